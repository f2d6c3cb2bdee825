"""``proactax portal``: run the web portal (the integrator ingest API for now) with uvicorn;
``proactax portal openapi [--output PATH]``: print or write its OpenAPI document."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "portal", help="run the web portal (integrator API) on PROACTAX_PORTAL_HOST/PORT"
    )
    parser.add_argument("--host", help="default: PROACTAX_PORTAL_HOST")
    parser.add_argument("--port", type=int, help="default: PROACTAX_PORTAL_PORT")
    parser.add_argument("--loglevel", default="info", choices=["debug", "info", "warning"])
    parser.set_defaults(handler=serve)
    sub = parser.add_subparsers(dest="portal_command")
    openapi = sub.add_parser("openapi", help="print (or write) the OpenAPI document")
    openapi.add_argument("--output", type=Path, help="write here instead of printing")
    openapi.set_defaults(handler=write_openapi)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from core.settings import get_settings
    from core.settings_checks import portal_start_problems
    from portal.app import create_app
    from proactax.logs import configure_logging
    from storage.migrate import upgrade

    configure_logging(args.loglevel)
    settings = get_settings()
    settings.require_secrets("portal")
    problems = portal_start_problems(settings)
    if problems:
        for problem in problems:
            log.error("portal refuses to start: %s", problem)
            print(f"error: {problem}", file=sys.stderr)
        return 2
    upgrade(settings.database)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal again for the
    # handler that was there before it; with these, a clean stop exits 0 like the worker.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stopped)
    uvicorn.run(
        create_app(settings),
        host=args.host or settings.portal_host,
        port=args.port if args.port is not None else settings.portal_port,
        log_level=args.loglevel,
        log_config=None,  # keep our logging set-up (and its redacting filter)
        timeout_graceful_shutdown=10,
        # The client address is ours to work out (PROACTAX_PORTAL_TRUSTED_PROXIES): uvicorn
        # would otherwise believe X-Forwarded-For from 127.0.0.1 (FORWARDED_ALLOW_IPS).
        proxy_headers=False,
    )
    return 0


def _stopped(_signum: int, _frame: object) -> None:
    """Nothing to do: uvicorn has already shut the server down."""


def write_openapi(args: argparse.Namespace) -> int:
    from portal.openapi import openapi_document, render

    text = render(openapi_document())
    if args.output is None:
        print(text, end="")
    else:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    return 0
