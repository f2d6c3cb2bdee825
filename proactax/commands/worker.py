"""``proactax worker``: run the stream worker in the foreground."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("worker", help="run the faust stream worker")
    parser.add_argument("--loglevel", default="info", choices=["debug", "info", "warning"])
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from core.settings import get_settings
    from proactax.logs import configure_logging
    from proactax.worker import run_worker

    configure_logging(args.loglevel)
    return run_worker(get_settings(), args.loglevel)
