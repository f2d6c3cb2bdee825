"""``proactax notifier``: the notifier process (notices ► outbox ► Telegram/SMS, statuses ►
notifications.v1); ``notifier plan``: the send planner's projection; ``notifier link-token
PINFL``: a one-time deep link into the bot (what the portal issues)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "notifier", help="deliver notices (Telegram, SMS stub, portal inbox) within the limits"
    )
    parser.add_argument("--loglevel", default="info", choices=["debug", "info", "warning"])
    parser.set_defaults(handler=run)
    sub = parser.add_subparsers(dest="notifier_command")
    plan = sub.add_parser("plan", help="print the send planner's projection of the backlog")
    plan.add_argument("--json", action="store_true")
    plan.set_defaults(handler=print_plan)
    token = sub.add_parser("link-token", help="issue a one-time Telegram deep link for a PINFL")
    token.add_argument("pinfl")
    token.set_defaults(handler=link_token)


def run_until_signalled(main: Callable[[Any], Awaitable[None]]) -> int:
    """Run ``main(stop)`` until SIGTERM or SIGINT sets ``stop``; exit 0 after a clean stop."""
    import asyncio
    import signal

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await main(stop)

    asyncio.run(runner())
    return 0


def run(args: argparse.Namespace) -> int:
    from core.settings import get_settings
    from notifier.runner import run_notifier
    from notifier.wiring import build
    from proactax.logs import configure_logging
    from storage.migrate import upgrade

    configure_logging(args.loglevel)
    _quiet_http_logs()
    settings = get_settings()
    settings.require_secrets("notifier")
    upgrade(settings.database)
    parts = build(settings)
    return run_until_signalled(lambda stop: run_notifier(parts, stop))


def print_plan(args: argparse.Namespace) -> int:
    from core.settings import get_settings
    from notifier.api import NotifierApi

    projection = NotifierApi.from_settings(get_settings()).projection()
    if args.json:
        print(json.dumps(projection.as_dict(), indent=2))
        return 0
    print(
        f"{projection.total} notices waiting; {projection.rate_per_s:g} msg/s; "
        f"quiet hours {projection.quiet_hours} (Asia/Tashkent)"
    )
    for wave in projection.waves:
        deadline = wave.deadline.isoformat() if wave.deadline else "-"
        verdict = "on time" if wave.on_time else "LATE"
        print(
            f"  {wave.channel:8} {wave.kind:22} deadline {deadline:10} {wave.count:>10} "
            f"done {wave.completes_at:%Y-%m-%d %H:%M} {verdict}"
        )
    return 0


def link_token(args: argparse.Namespace) -> int:
    from core.settings import get_settings
    from notifier.api import NotifierApi

    token = NotifierApi.from_settings(get_settings()).issue_link_token(args.pinfl)
    print(token.emulator_url or token.telegram_url)
    return 0


def _quiet_http_logs() -> None:
    """httpx logs every Bot API URL, and the URL carries the bot token."""
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def start_for_demo(settings: Any) -> list[Any]:
    """``make run``: the notifier, and the Bot API emulator with the bot (polling) unless a
    real bot token is configured. Returns the started processes (stop them in reverse)."""
    from devtools.processes import ServiceProcess

    logs = settings.run_dir / "logs"
    started = []
    if settings.telegram_uses_emulator:
        started.append(ServiceProcess.telegram_emulator(settings, logs / "telegram-emulator.log"))
        started.append(ServiceProcess.bot(settings, logs / "bot.log", mode="polling"))
    started.append(ServiceProcess.notifier(settings, logs / "notifier.log"))
    return [process.start() for process in started]


def print_demo_links(settings: Any, taxpayers: list[str]) -> None:
    """Where a person can act as a taxpayer in the emulated Telegram chat."""
    from notifier.api import NotifierApi
    from storage.database import make_engine, make_session_factory
    from storage.people import PeopleRepository

    if not settings.telegram_uses_emulator:
        print(f"Telegram bot @{settings.telegram_bot_username} (real token); notifier running")
        return
    api = NotifierApi.from_settings(settings)
    people = PeopleRepository(make_session_factory(make_engine(settings.database)))
    print(f"Telegram (emulated): {settings.telegram_emulator_url} – act as a taxpayer there:")
    minutes = settings.link_token_ttl_s // 60
    for pinfl in taxpayers[:2]:
        link = api.issue_link_token(pinfl)
        print(f"  deep link for taxpayer {pinfl} (valid {minutes} min): {link.emulator_url}")
    person = next(
        (p for p in (people.get(t) for t in taxpayers[2:12]) if p is not None and p.phone), None
    )
    if person is not None:
        print(f"  or create a user with phone {person.phone} on that page and share the contact")
    print("  a fresh deep link: .venv/bin/proactax notifier link-token <PINFL>")
    print(f"  quiet hours {settings.quiet_hours} (Asia/Tashkent) hold broadcast notices")
