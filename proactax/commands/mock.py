"""``proactax mock publish``: publish a synthetic season from ``registries_mock``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("mock", help="synthetic registries")
    sub = parser.add_subparsers(dest="mock_command", required=True)
    publish = sub.add_parser("publish", help="publish a synthetic season to the registry topics")
    publish.add_argument("--people", type=int, default=200)
    publish.add_argument("--year", type=int, default=2026)
    publish.add_argument("--seed", type=int, default=7)
    publish.set_defaults(handler=publish_season)


def progress_bar(total: int) -> Any:
    def show(done: int) -> None:
        width = 40
        filled = width * done // max(total, 1)
        sys.stdout.write(f"\r  [{'#' * filled}{'.' * (width - filled)}] {done}/{total} events")
        sys.stdout.flush()
        if done >= total:
            sys.stdout.write("\n")

    return show


def publish_season(args: argparse.Namespace) -> int:
    from proactax.settings import get_settings
    from registries_mock.publisher import publish
    from registries_mock.season import generate_season

    settings = get_settings()
    season = generate_season(args.people, args.year, args.seed)
    print(
        f"Publishing {len(season.events)} events for {len(season.people)} people "
        f"(tax year {season.tax_year}) to {settings.bootstrap_servers}"
    )
    asyncio.run(
        publish(
            season.events,
            settings.bootstrap_servers,
            settings.topic_namespace,
            progress_bar(len(season.events)),
        )
    )
    sample = season.taxpayers[:3]
    print(
        "Try:  "
        + "\n      ".join(f"proactax returns show {p} --year {season.tax_year}" for p in sample)
    )
    return 0
