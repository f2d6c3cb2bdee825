"""``proactax mock season|publish``: play a synthetic season from ``devtools.registries_mock``.

``season`` publishes a whole population's registry events to Kafka (or through the HTTP
ingest API), optionally with faults, closes the year and writes the oracle file (the
expected facts per taxpayer and the expected dead letters). ``publish`` is the older,
smaller form: a clean season to Kafka, the year left open.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

VIA = ("kafka", "http")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("mock", help="synthetic registries")
    sub = parser.add_subparsers(dest="mock_command", required=True)

    season = sub.add_parser(
        "season",
        help="publish a whole synthetic season (optionally with faults), close the year, "
        "write the oracle",
        description="Publish the registry events of N synthetic residents for a tax year, "
        "to Kafka or through the HTTP ingest API; then every income registry closes the "
        "year (registry.period_closed.v1, always over Kafka: the API takes registry events "
        "only) and the oracle file is written: the expected facts per taxpayer and the "
        "expected dead letters.",
    )
    season.add_argument("--taxpayers", type=int, default=5000, help="residents (default 5000)")
    season.add_argument("--year", type=int, default=2026, help="tax year (default 2026)")
    season.add_argument("--seed", type=int, default=7)
    season.add_argument(
        "--rate", type=float, default=0, help="events per second; 0 = unthrottled (default)"
    )
    season.add_argument(
        "--faults",
        action="store_true",
        help="mix in events the service must refuse (malformed JSON, schema violations, bad "
        "PINFLs, out-of-range values, oversized messages, conflicts) and more duplicates, "
        "out-of-order revisions, corrections and voids",
    )
    season.add_argument("--via", choices=VIA, default="kafka")
    season.add_argument("--portal-url", help="ingest API base URL (default: from settings)")
    season.add_argument(
        "--api-keys-file",
        type=Path,
        help='JSON {"<registry>": "<API key>", ...} for --via http',
    )
    season.add_argument(
        "--create-api-keys",
        action="store_true",
        help="create one API key per registry in the database and write them to "
        "--api-keys-file (default <run_dir>/mock/api-keys.json)",
    )
    season.add_argument("--batch-size", type=int, default=500, help="events per HTTP request")
    season.add_argument("--oracle", type=Path, help="oracle file (default under <run_dir>/mock/)")
    season.add_argument("--id-prefix", default="mock", help="event_id prefix (default mock)")
    season.add_argument(
        "--no-close", action="store_true", help="leave the year open (no period_closed)"
    )
    season.set_defaults(handler=play_season)

    publish = sub.add_parser(
        "publish", help="publish a small clean season to the registry topics (year left open)"
    )
    publish.add_argument("--people", type=int, default=200)
    publish.add_argument("--year", type=int, default=2026)
    publish.add_argument("--seed", type=int, default=7)
    publish.set_defaults(handler=publish_season)


class ProgressBar:
    """``[#####.....] 12,000/52,000 events  3,400/s  ETA 0:12`` on one line of a terminal;
    a line per tenth elsewhere (logs stay readable)."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 40) -> None:
        self.total = max(total, 1)
        self.stream = stream or sys.stdout
        self.width = width
        self.started = time.monotonic()
        self.tty = self.stream.isatty()
        self.shown_tenth = -1

    def __call__(self, done: int) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = done / elapsed
        left = (self.total - done) / rate if rate > 0 else 0.0
        filled = self.width * min(done, self.total) // self.total
        line = (
            f"  [{'#' * filled}{'.' * (self.width - filled)}] {done:,}/{self.total:,} events"
            f"  {rate:,.0f}/s  ETA {int(left) // 60}:{int(left) % 60:02d}"
        )
        if self.tty:
            self.stream.write("\r" + line + ("\n" if done >= self.total else ""))
        else:
            tenth = 10 * min(done, self.total) // self.total
            if tenth == self.shown_tenth:
                return
            self.shown_tenth = tenth
            self.stream.write(line + "\n")
        self.stream.flush()


def progress_bar(total: int) -> ProgressBar:
    return ProgressBar(total)


def play_season(args: argparse.Namespace) -> int:
    from contracts.validation import ValidationPolicy
    from core.settings import get_settings
    from devtools.registries_mock.publisher import close_year, publish
    from devtools.registries_mock.season import generate_season

    settings = get_settings()
    policy = ValidationPolicy.from_settings(settings)
    if args.year not in policy.tax_years:
        print(
            f"error: the service accepts tax years {settings.tax_year_min}-{settings.tax_year_max}"
        )
        return 2
    if args.taxpayers < 1:
        print("error: --taxpayers must be at least 1")
        return 2
    keys: dict[str, str] = {}
    if args.via == "http":
        keys_or_error = _api_keys(args, settings)
        if isinstance(keys_or_error, str):
            print(f"error: {keys_or_error}")
            return 2
        keys = keys_or_error
    started = time.monotonic()
    season = generate_season(
        args.taxpayers, args.year, args.seed, args.id_prefix, faults=args.faults, policy=policy
    )
    counts = season.counts()
    broken = sum(counts["by_fault"].values())
    print(
        f"Season {season.tax_year}: {len(season.people):,} residents, "
        f"{counts['taxpayers']:,} with income records, {len(season.events):,} events"
        + (f" ({broken:,} to be refused)" if broken else "")
        + f"; generated in {time.monotonic() - started:.1f}s"
    )
    oracle_path = args.oracle or (
        settings.run_dir
        / "mock"
        / f"season-{args.year}-n{args.taxpayers}-s{args.seed}{'-faults' if args.faults else ''}"
        ".oracle.json"
    )
    season.write_oracle(oracle_path)
    print(f"Oracle (expected facts and dead letters): {oracle_path}")

    status = 0
    started = time.monotonic()
    if args.via == "kafka":
        print(f"Publishing to Kafka at {settings.bootstrap_servers}")
        asyncio.run(
            publish(
                season.events,
                settings,
                settings.topic_namespace,
                progress_bar(len(season.events)),
                rate=args.rate,
            )
        )
    else:
        status = _post(args, settings, season, keys)
    elapsed = time.monotonic() - started
    print(
        f"Published {len(season.events):,} events in {elapsed:.1f}s "
        f"({len(season.events) / max(elapsed, 1e-6):,.0f} events/s)"
    )
    if broken and args.via == "kafka":
        print(f"Expect {len(season.dead_letters):,} dead letters on registry.deadletter.v1:")
        for (reason, field), n in _by_reason(season.dead_letters).most_common():
            print(f"  {n:6,}  {reason:<16} {field or '-'}")
    if not args.no_close:
        asyncio.run(close_year(season.tax_year, settings, settings.topic_namespace))
        print("Every income registry closed the year (registry.period_closed.v1).")
    sample = season.taxpayers[:3]
    if sample:
        print(
            "Try:  "
            + "\n      ".join(f"proactax returns show {p} --year {season.tax_year}" for p in sample)
        )
    return status


def _by_reason(letters: Any) -> Counter[tuple[str, str | None]]:
    return Counter((d.reason_code, d.field) for d in letters)


def _portal_url(args: argparse.Namespace, settings: Any) -> str:
    return str(args.portal_url or f"http://{settings.portal_host}:{settings.portal_port}")


def _api_keys(args: argparse.Namespace, settings: Any) -> dict[str, str] | str:
    """The API keys per registry, read from (or first created into) the keys file."""
    from contracts.topics import REGISTRIES

    path: Path = args.api_keys_file or settings.run_dir / "mock" / "api-keys.json"
    if args.create_api_keys:
        from core.clock import SystemClock
        from portal.services.api_keys import ApiKeyService
        from storage.api_keys import ApiKeyRepository
        from storage.database import make_engine, make_session_factory
        from storage.migrate import upgrade

        upgrade(settings.database)
        service = ApiKeyService(
            ApiKeyRepository(make_session_factory(make_engine(settings.database))), SystemClock()
        )
        created = {r: service.create(r, label="proactax mock season").token for r in REGISTRIES}
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(created, handle, indent=2)
        print(f"Created an API key per registry; tokens in {path}")
        return created
    if not path.exists():
        return f"no API keys file {path}: pass --api-keys-file, or --create-api-keys"
    try:
        keys = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        return f"{path} is not JSON: {exc}"
    if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
        return f'{path} must hold {{"<registry>": "<API key>", ...}}'
    missing = [r for r in REGISTRIES if r not in keys]
    if missing:
        return f"{path} has no key for: {', '.join(missing)}"
    return {str(k): str(v) for k, v in keys.items()}


def _post(args: argparse.Namespace, settings: Any, season: Any, keys: dict[str, str]) -> int:
    from devtools.registries_mock.http_publisher import post_season
    from portal.ingest_client import IngestClientError

    base_url = _portal_url(args, settings)
    print(f"Posting to the ingest API at {base_url}")
    try:
        outcome = asyncio.run(
            post_season(
                season.events,
                base_url,
                keys,
                batch_size=args.batch_size,
                rate=args.rate,
                progress=progress_bar(len(season.events)),
            )
        )
    except IngestClientError as exc:
        print(f"\nerror: {exc}")
        return 1
    print(
        f"The API accepted {outcome.accepted:,}, answered {outcome.duplicates:,} as duplicates "
        f"and refused {len(outcome.rejections):,}."
    )
    got = Counter((r.reason_code, r.field) for _, r in outcome.rejections)
    expected = _by_reason(season.dead_letters)
    for reason, field in sorted(got | expected, key=lambda k: -(got | expected)[k]):
        line = f"  {got[(reason, field)]:6,}  {reason:<16} {field or '-'}"
        if got[(reason, field)] != expected[(reason, field)]:
            line += f"  <- expected {expected[(reason, field)]:,}"
        print(line)
    if got != expected:
        print("The API's refusals differ from the oracle.")
        return 1
    return 0


def publish_season(args: argparse.Namespace) -> int:
    from core.settings import get_settings
    from devtools.registries_mock.publisher import publish
    from devtools.registries_mock.season import generate_season

    settings = get_settings()
    season = generate_season(args.people, args.year, args.seed)
    print(
        f"Publishing {len(season.events)} events for {len(season.people)} people "
        f"(tax year {season.tax_year}) to {settings.bootstrap_servers}"
    )
    asyncio.run(
        publish(
            season.events,
            settings,
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
