"""``proactax db upgrade``: bring the configured database to the newest migration."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("db", help="database migrations")
    sub = parser.add_subparsers(dest="db_command", required=True)
    sub.add_parser("upgrade", help="apply every Alembic migration").set_defaults(handler=upgrade)


def upgrade(args: argparse.Namespace) -> int:
    from core.settings import get_settings
    from storage.migrate import upgrade as run_upgrade

    run_upgrade(get_settings().database)
    print("database is at the newest migration")
    return 0
