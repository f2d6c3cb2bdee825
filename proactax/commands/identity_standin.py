"""``proactax oneid-standin`` / ``proactax oidc-standin``: local stand-ins of the sign-in
providers (development and tests only; ``portal/identity/standin_*.py``)."""

from __future__ import annotations

import argparse
import signal
from typing import Any


def add_parser(subparsers: Any) -> None:
    for name, what in (("oneid", "OneID"), ("oidc", "OpenID Connect")):
        parser = subparsers.add_parser(
            f"{name}-standin",
            help=f"run the local {what} stand-in (development only) on "
            f"PROACTAX_{name.upper()}_STANDIN_HOST/PORT",
        )
        parser.add_argument("--loglevel", default="info", choices=["debug", "info", "warning"])
        parser.set_defaults(handler=serve, provider=name)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from core.settings import get_settings
    from core.sign_in import (
        OIDC_STANDIN_CLIENT_ID,
        OIDC_STANDIN_SECRET,
        ONEID_STANDIN_CLIENT_ID,
        ONEID_STANDIN_SECRET,
    )
    from proactax.logs import configure_logging
    from storage.database import make_engine, make_session_factory
    from storage.people import PeopleRepository

    configure_logging(args.loglevel)
    settings = get_settings()
    if not settings.development:
        print("error: the identity stand-ins run only with PROACTAX_DEVELOPMENT=1")
        return 2
    people = PeopleRepository(make_session_factory(make_engine(settings.database)))
    app: Any
    if args.provider == "oneid":
        from portal.identity.standin_oneid import OneIdStandIn, create_standin_app

        host, port = settings.oneid_standin_host, settings.oneid_standin_port
        app = create_standin_app(
            OneIdStandIn(
                ONEID_STANDIN_CLIENT_ID,
                ONEID_STANDIN_SECRET,
                f"{settings.portal_url}/sign-in/oneid/callback",
                people,
            )
        )
    else:
        from portal.identity.standin_oidc import Client, OidcStandIn
        from portal.identity.standin_oidc import create_standin_app as create_oidc

        host, port = settings.oidc_standin_host, settings.oidc_standin_port
        client = Client(
            OIDC_STANDIN_CLIENT_ID,
            OIDC_STANDIN_SECRET,
            f"{settings.portal_url}/sign-in/oidc/callback",
        )
        app = create_oidc(OidcStandIn(f"http://{host}:{port}", client, people))
    print(f"{args.provider} STAND-IN (not the real provider) on http://{host}:{port}", flush=True)
    # As in ``proactax portal``: a clean stop on SIGTERM/SIGINT exits 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stopped)
    uvicorn.run(app, host=host, port=port, log_level=args.loglevel, log_config=None)
    return 0


def _stopped(_signum: int, _frame: object) -> None:
    """Nothing to do: uvicorn has already shut the server down."""
