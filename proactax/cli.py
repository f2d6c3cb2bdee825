"""The ``proactax`` command line: parses arguments, then delegates in a few lines.

Each sub-command lives in ``proactax/commands/<name>.py`` with ``add_parser(subparsers)``;
modules are imported only when the command line is built, so nothing heavy happens at
import time of this module.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from core.settings import SettingsError

COMMAND_MODULES = (
    "proactax.commands.broker",
    "proactax.commands.worker",
    "proactax.commands.returns",
    "proactax.commands.mock",
    "proactax.commands.db",
    "proactax.commands.demo",
    "proactax.commands.tax_explain",
    "proactax.commands.portal",
    "proactax.commands.apikeys",
    "proactax.commands.staff",
    "proactax.commands.notifier",
    "proactax.commands.bot",
    "proactax.commands.telegram_emulator",
    "proactax.commands.identity_standin",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="proactax", description="Proactive personal income tax service."
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).add_parser(subparsers)
    return parser


# The Kafka principal a command logs in as when PROACTAX_KAFKA_PRINCIPAL (or _USERNAME)
# does not say (ops/kafka_security.py). The launcher always acts as "admin"; the
# mock registries and the demo's simulated season act as the registries ("mock").
DEFAULT_PRINCIPALS = {
    "worker": "worker",
    "portal": "portal",
    "notifier": "notifier",
    "bot": "bot",
    "mock": "mock",
    "demo": "mock",
}


def default_principal(args: argparse.Namespace) -> str:
    if args.command == "bot" and getattr(args, "bot_command", None) == "webhook":
        return "webhook"
    return DEFAULT_PRINCIPALS.get(args.command, "")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    principal = default_principal(args)
    if principal and not os.environ.get("PROACTAX_KAFKA_USERNAME"):
        # before any command reads its settings (get_settings() reads the environment once)
        os.environ.setdefault("PROACTAX_KAFKA_PRINCIPAL", principal)
    try:
        result: int = args.handler(args)
    except SettingsError as error:  # a refusal to start: say which variable, no traceback
        print(f"proactax: {error}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
