"""``proactax telegram-emulator``: the Bot API emulator (and its web page) in the foreground."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "telegram-emulator",
        help="run the Telegram Bot API emulator on PROACTAX_TELEGRAM_EMULATOR_HOST/PORT",
    )
    parser.add_argument("--host", help="default: PROACTAX_TELEGRAM_EMULATOR_HOST")
    parser.add_argument("--port", type=int, help="default: PROACTAX_TELEGRAM_EMULATOR_PORT")
    parser.add_argument("--global-rate", type=float, default=30.0, help="messages/s per bot")
    parser.add_argument("--paid-rate", type=float, default=1000.0, help="paid broadcast msg/s")
    parser.add_argument("--per-chat-rate", type=float, default=1.0, help="messages/s per chat")
    parser.add_argument("--per-chat-burst", type=float, default=3.0)
    parser.add_argument("--loglevel", default="info", choices=["debug", "info", "warning"])
    parser.set_defaults(handler=serve)


def serve(args: argparse.Namespace) -> int:
    import asyncio

    from core.settings import get_settings
    from notifier.telegram.emulator.app import serve as start
    from notifier.telegram.emulator.state import Emulator, Limits
    from proactax.commands.notifier import run_until_signalled
    from proactax.logs import configure_logging

    configure_logging(args.loglevel)
    settings = get_settings()
    host = args.host or settings.telegram_emulator_host
    port = args.port or settings.telegram_emulator_port
    limits = Limits(args.global_rate, args.paid_rate, args.per_chat_rate, args.per_chat_burst)
    state = Emulator(settings.telegram_token, settings.telegram_bot_username, limits)

    async def main(stop: asyncio.Event) -> None:
        runner = await start(state, host, port)
        print(f"Telegram Bot API emulator on http://{host}:{port} (act as a taxpayer there)")
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    return run_until_signalled(main)
