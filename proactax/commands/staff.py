"""``proactax staff create|list|disable``: STC staff accounts of the portal dashboard.

The password is read from the terminal (or ``--password-stdin``), never from the command
line, and stored as a scrypt hash.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from storage.portal.staff import STAFF_ROLES


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("staff", help="STC staff accounts of the portal dashboard")
    sub = parser.add_subparsers(dest="staff_command", required=True)
    create = sub.add_parser("create", help="create an account (or reset its password and role)")
    create.add_argument("username", help="2-64 of a-z 0-9 . _ -")
    create.add_argument("--role", required=True, choices=STAFF_ROLES)
    create.add_argument("--name", default="", help="display name")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    create.set_defaults(handler=create_account)
    listing = sub.add_parser("list", help="list accounts")
    listing.set_defaults(handler=list_accounts)
    disable = sub.add_parser("disable", help="disable an account and end its sessions")
    disable.add_argument("username")
    disable.set_defaults(handler=disable_account)


def _repository() -> Any:
    from core.settings import get_settings
    from storage.database import make_engine, make_session_factory
    from storage.migrate import upgrade
    from storage.portal.staff import StaffRepository

    settings = get_settings()
    upgrade(settings.database)
    return StaffRepository(make_session_factory(make_engine(settings.database)))


def create_account(args: argparse.Namespace) -> int:
    from core.clock import SystemClock
    from portal.web.security import MIN_PASSWORD_CHARS, USERNAME_RE, hash_password

    username = args.username.strip().lower()
    if not USERNAME_RE.fullmatch(username):
        print("error: a username is 2-64 characters of a-z 0-9 . _ -")
        return 2
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("error: the passwords differ")
            return 2
    if len(password) < MIN_PASSWORD_CHARS:
        print(f"error: a password has at least {MIN_PASSWORD_CHARS} characters")
        return 2
    record = _repository().upsert(
        username, args.role, hash_password(password), args.name, SystemClock().now()
    )
    print(f"staff account {record.username} ({record.role}) ready")
    return 0


def list_accounts(args: argparse.Namespace) -> int:
    accounts = _repository().list()
    if not accounts:
        print("No staff accounts.")
        return 0
    for a in accounts:
        state = "disabled" if a.disabled else "active"
        print(f"{a.username:<24} {a.role:<11} {state:<8} {a.display_name}")
    return 0


def disable_account(args: argparse.Namespace) -> int:
    from core.clock import SystemClock

    if not _repository().disable(args.username, SystemClock().now()):
        print(f"No staff account {args.username!r}.")
        return 1
    print(f"disabled {args.username}")
    return 0
