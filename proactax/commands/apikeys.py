"""``proactax apikeys create|list|revoke``: integrator API keys for the ingest API."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from contracts.topics import REGISTRIES


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("apikeys", help="integrator API keys (HTTP ingest API)")
    sub = parser.add_subparsers(dest="apikeys_command", required=True)
    create = sub.add_parser("create", help="create a key and print its token (once)")
    create.add_argument("--registry", required=True, choices=REGISTRIES)
    create.add_argument("--label", default="", help="who holds it, e.g. 'payroll gateway 2027'")
    create.add_argument(
        "--expires-days",
        type=int,
        help="expire after N days (default: PROACTAX_API_KEY_EXPIRY_DAYS, 365)",
    )
    create.set_defaults(handler=create_key)
    listing = sub.add_parser("list", help="list keys (never their tokens)")
    listing.add_argument("--registry", choices=REGISTRIES)
    listing.set_defaults(handler=list_keys)
    revoke = sub.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("key_id")
    revoke.set_defaults(handler=revoke_key)


def _service() -> Any:
    from core.clock import SystemClock
    from core.settings import get_settings
    from portal.services.api_keys import ApiKeyService
    from storage.api_keys import ApiKeyRepository
    from storage.database import make_engine, make_session_factory
    from storage.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database)
    sessions = make_session_factory(make_engine(settings.database))
    return ApiKeyService(
        ApiKeyRepository(sessions), SystemClock(), timedelta(days=settings.api_key_expiry_days)
    )


def create_key(args: argparse.Namespace) -> int:
    from portal.services.api_keys import ApiKeyError

    expires = timedelta(days=args.expires_days) if args.expires_days is not None else None
    try:
        issued = _service().create(args.registry, label=args.label, expires_in=expires)
    except ApiKeyError as exc:
        print(f"error: {exc}")
        return 2
    info = issued.info
    print(f"key_id:   {info.key_id}")
    print(f"registry: {info.registry}")
    print(f"expires:  {info.expires_at.isoformat() if info.expires_at else 'never'}")
    print(f"token:    {issued.token}")
    print("The token is shown only now; it is stored as a hash and cannot be recovered.")
    return 0


def list_keys(args: argparse.Namespace) -> int:
    keys = _service().list(args.registry)
    if not keys:
        print("No API keys.")
        return 0
    header = ("key_id", "registry", "status", "created", "expires", "label")
    print("{:<16}  {:<13}  {:<7}  {:<20}  {:<20}  {}".format(*header))
    for key in keys:
        expires = key.expires_at.strftime("%Y-%m-%d %H:%M") if key.expires_at else "never"
        print(
            f"{key.key_id:<16}  {key.registry:<13}  {key.status.value:<7}  "
            f"{key.created_at:%Y-%m-%d %H:%M} UTC  {expires:<20}  {key.label}"
        )
    return 0


def revoke_key(args: argparse.Namespace) -> int:
    info = _service().revoke(args.key_id)
    if info is None:
        print(f"No API key {args.key_id!r}.")
        return 1
    print(f"revoked {info.key_id} ({info.registry}) at {info.revoked_at:%Y-%m-%d %H:%M:%S} UTC")
    return 0
