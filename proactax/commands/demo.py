"""``proactax demo`` (``make run``): the whole service on local defaults, end to end.

Starts what is not running (the Kafka broker, the stream worker), publishes the demo season
with a progress bar, waits until the returns are in the database, says where to look, and
on Ctrl-C stops everything it started.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("demo", help="run the service end to end on local defaults")
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--year", type=int, default=2026)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for returns")
    # A compressed season (docs/lifecycle.md): the clock runs one day per --day-seconds.
    parser.add_argument(
        "--from", dest="season_from", type=_date, help="compressed season: first day, YYYY-MM-DD"
    )
    parser.add_argument("--to", dest="season_to", type=_date, help="compressed season: last day")
    parser.add_argument("--day-seconds", type=float, default=1.0, help="seconds per season day")
    parser.set_defaults(handler=run_demo)


def _date(text: str) -> Any:
    import datetime

    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not YYYY-MM-DD") from None


def _interrupt(*_: object) -> None:
    """SIGTERM stops the demo the same way Ctrl-C does."""
    raise KeyboardInterrupt


def run_demo(args: argparse.Namespace) -> int:
    from core.settings import get_settings
    from devtools import broker
    from devtools.processes import ServiceProcess
    from devtools.registries_mock.publisher import close_year, publish
    from devtools.registries_mock.season import generate_season
    from proactax.commands import notifier as notifier_demo
    from proactax.commands.mock import progress_bar
    from storage.database import make_engine, make_session_factory
    from storage.migrate import upgrade
    from storage.returns_repository import ReturnsRepository

    # Ctrl-C and SIGTERM stop the demo even when it was started in the background, where
    # SIGINT arrives ignored and Python would not turn it into KeyboardInterrupt.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    settings = get_settings()
    for service in ("portal", "notifier", "bot"):  # refuse here, not in a child's log
        settings.require_secrets(service)
    if args.season_from or args.season_to:
        return _season(args, settings)
    print(f"Kafka broker on {settings.bootstrap_servers} (data in {settings.broker_data_path})")
    handle = broker.ensure_broker(settings)
    broker.create_worker_topics(settings)
    print(
        "  started" if handle.launched else "  already running",
        f"in {handle.timings.get('total', 0):.1f}s",
    )
    upgrade(settings.database)
    print(f"Database {settings.database}")

    worker = ServiceProcess.worker(settings, settings.run_dir / "logs" / "worker.log").start()
    portal = ServiceProcess.portal(settings, settings.run_dir / "logs" / "portal.log").start()
    portal_url = f"http://{settings.portal_host}:{settings.portal_port}"
    telegram = notifier_demo.start_for_demo(settings)  # notifier (+ emulator and bot)
    standins = _start_identity_standins(settings)
    print(f"Stream worker started (log: {worker.log_path})")
    try:
        season = generate_season(args.people, args.year, args.seed)
        print(
            f"Publishing the demo season: {len(season.events)} registry events "
            f"for {len(season.people)} people, tax year {season.tax_year}"
        )
        asyncio.run(
            publish(
                season.events,
                settings,
                settings.topic_namespace,
                progress_bar(len(season.events)),
            )
        )
        print("Every registry closes the year (registry.period_closed.v1): returns are computed")
        asyncio.run(close_year(season.tax_year, settings, settings.topic_namespace))
        repository = ReturnsRepository(make_session_factory(make_engine(settings.database)))
        wanted = set(season.taxpayers)
        deadline = time.monotonic() + args.timeout
        shown = -1
        while True:
            done = wanted & set(repository.latest_by_taxpayer(season.tax_year))
            if len(done) != shown:
                shown = len(done)
                print(f"\r  returns in the database: {shown}/{len(wanted)}", end="", flush=True)
            if done == wanted:
                print()
                break
            if not worker.alive():
                print(f"\nThe worker stopped:\n{worker.log_tail()}")
                return 1
            if time.monotonic() > deadline:
                print(
                    f"\nNot every return arrived within {args.timeout:.0f}s; see {worker.log_path}"
                )
                break
            time.sleep(0.5)
        sample = season.taxpayers[0]
        print(
            "\nThe service is running. Look at a return computed from events that crossed "
            "the broker:"
        )
        print(f"  .venv/bin/proactax returns show {sample} --year {season.tax_year}")
        print(f"  .venv/bin/proactax returns show {sample} --year {season.tax_year} --json")
        print("  .venv/bin/proactax broker topics")
        print(
            f"Integrator HTTP API: {portal_url}/docs (keys: .venv/bin/proactax apikeys create "
            "--registry payroll); portal log: " + str(portal.log_path)
        )
        print(
            f"Taxpayer cabinet: {portal_url}/sign-in (the one-time code goes to the "
            "taxpayer's Telegram chat: link one on the emulator page below first)"
        )
        print(
            f"STC dashboard: {portal_url}/staff/sign-in (make an account first: "
            ".venv/bin/proactax staff create --role analyst NAME --password-stdin)"
        )
        notifier_demo.print_demo_links(settings, season.taxpayers)
        _print_identity_links(settings, portal_url)
        print("Press Ctrl-C to stop everything this command started.")
        with contextlib.suppress(KeyboardInterrupt):
            while worker.alive() and portal.alive():
                time.sleep(0.5)
    finally:
        print("\nStopping the portal and the worker ...")
        for process in reversed([*telegram, *standins]):
            process.stop()
        portal.stop()
        worker.stop()
        if handle.launched:
            print("Stopping the broker ...")
            broker.stop(settings)
    return 0


def _start_identity_standins(settings: Any) -> list[Any]:
    """The OneID and OpenID Connect stand-ins, in development only (PROACTAX_DEVELOPMENT=1,
    set by ``make run``) and only for providers not configured for real."""
    from core.sign_in import oidc_config, oneid_config
    from devtools.processes import ServiceProcess

    logs = settings.run_dir / "logs"
    started = []
    oneid, oidc = oneid_config(settings), oidc_config(settings)
    if oneid is not None and oneid.standin:
        started.append(ServiceProcess.oneid_standin(settings, logs / "oneid-standin.log").start())
    if oidc is not None and oidc.standin:
        started.append(ServiceProcess.oidc_standin(settings, logs / "oidc-standin.log").start())
    return started


def _print_identity_links(settings: Any, portal_url: str) -> None:
    from core.sign_in import oidc_config, oneid_config

    oneid = oneid_config(settings)
    if oneid is None:
        print("OneID sign-in is off (set PROACTAX_DEVELOPMENT=1 for its local stand-in)")
        return
    if oneid.standin:
        print(
            f"Sign in with OneID: {portal_url}/sign-in ► 'Sign in with OneID' opens the OneID "
            f"STAND-IN (http://{settings.oneid_standin_host}:{settings.oneid_standin_port}, "
            "not the real OneID): choose a demo taxpayer there, or type any PINFL, or tick "
            "'company representative'"
        )
    oidc = oidc_config(settings)
    if oidc is not None and oidc.standin:
        print(
            f"Sign in with OpenID Connect: the same page ► the OpenID Connect STAND-IN "
            f"({oidc.issuer})"
        )


def _season(args: argparse.Namespace, settings: Any) -> int:
    """``--from/--to``: a compressed season with the funnel at each milestone."""
    from devtools.simulation import run_season

    if not (args.season_from and args.season_to) or args.season_from > args.season_to:
        print("error: --from and --to go together, --from on or before --to")
        return 2
    if args.day_seconds <= 0:
        print("error: --day-seconds must be positive")
        return 2
    try:
        return run_season(
            settings,
            start=args.season_from,
            end=args.season_to,
            people=args.people,
            tax_year=args.year,
            seed=args.seed,
            day_seconds=args.day_seconds,
        )
    except KeyboardInterrupt:
        print("\nInterrupted.")
        return 130
