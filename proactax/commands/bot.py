"""``proactax bot``: the Telegram bot. ``--mode polling`` (development: long polling against
the emulator or Telegram) or ``--mode kafka`` (production: bot worker fed by the webhook
receiver through telegram.updates.v1); ``proactax bot webhook``: the webhook receiver."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("bot", help="run the Telegram bot (polling or a Kafka worker)")
    parser.add_argument("--mode", choices=["polling", "kafka"], default="polling")
    parser.add_argument("--loglevel", default="info", choices=["debug", "info", "warning"])
    parser.set_defaults(handler=run)
    sub = parser.add_subparsers(dest="bot_command")
    hook = sub.add_parser("webhook", help="run the webhook receiver (updates ► Kafka)")
    hook.add_argument("--no-register", action="store_true", help="do not call setWebhook")
    hook.add_argument("--loglevel", default="info", choices=["debug", "info", "warning"])
    hook.set_defaults(handler=webhook)


def _setup(loglevel: str, service: str) -> Any:
    from core.settings import get_settings
    from notifier.wiring import build
    from proactax.commands.notifier import _quiet_http_logs
    from proactax.logs import configure_logging
    from storage.migrate import upgrade

    configure_logging(loglevel)
    _quiet_http_logs()
    settings = get_settings()
    settings.require_secrets(service)
    upgrade(settings.database)
    return build(settings, makes_codes=service != "webhook")


def run(args: argparse.Namespace) -> int:
    from notifier.telegram.receive import run_bot
    from proactax.commands.notifier import run_until_signalled

    parts = _setup(args.loglevel, "bot")
    return run_until_signalled(lambda stop: run_bot(parts, stop, args.mode))


def webhook(args: argparse.Namespace) -> int:
    from notifier.telegram.webhook import run_webhook
    from proactax.commands.notifier import run_until_signalled

    parts = _setup(args.loglevel, "webhook")
    return run_until_signalled(lambda stop: run_webhook(parts, stop, not args.no_register))
