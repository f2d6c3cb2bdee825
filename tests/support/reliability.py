"""What the reliability tests (tests/reliability/) share: a season driven through a real
worker with faults injected between chunks, the oracle check at the end, and the figures
each scenario reports for the summary table that ``make soak`` (and ``make test``) print.

Faults land at random points, but seeded: the seed is printed and is in the table, so a
failing run can be replayed with ``PROACTAX_RELIABILITY_SEED``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts.topics import REGISTRIES, namespaced, registry_topic
from core.kafka import client_options
from core.settings import Settings
from devtools.registries_mock.publisher import close_year, publish
from devtools.registries_mock.season import Event, Season
from storage.database import make_engine, make_session_factory
from storage.returns_repository import ReturnsRepository
from tests.support.oracle import ProjectionCheck, expected_returns, repeated_identical_versions
from tests.support.waiting import wait_until
from tests.support.worker import WorkerProcess


@dataclasses.dataclass
class Figures:
    """One row of the summary table."""

    scenario: str
    variant: str
    seed: int
    runs: int = 1
    events: int = 0  # events published (or notices, or payments) and checked
    faults: int = 0  # kills, broker restarts, database outages
    lost: int = 0  # taxpayers whose current return is missing or wrong; notices missed
    duplicates: int = 0  # identical consecutive versions; notices twice; double charges
    recover_s: list[float] = dataclasses.field(default_factory=list)  # fault ► caught up
    seconds: float = 0.0
    note: str = ""


RESULTS: list[Figures] = []


def record(figures: Figures) -> Figures:
    RESULTS.append(figures)
    return figures


def seed_for(default: int) -> int:
    """The seed of a run: ``PROACTAX_RELIABILITY_SEED`` replays one, else ``default``."""
    return int(os.environ.get("PROACTAX_RELIABILITY_SEED", default))


def summary_table(rows: list[Figures]) -> list[str]:
    header = ("scenario", "variant", "seed", "runs", "events", "faults", "lost", "dups",
              "max recover s", "time s")  # fmt: skip
    body = [
        (
            r.scenario,
            r.variant,
            str(r.seed),
            str(r.runs),
            str(r.events),
            str(r.faults),
            str(r.lost),
            str(r.duplicates),
            f"{max(r.recover_s):.1f}" if r.recover_s else "-",
            f"{r.seconds:.1f}",
        )
        for r in rows
    ]
    widths = [max(len(c) for c in column) for column in zip(header, *body, strict=False)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in [header]]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in body]
    notes = [f"{r.scenario}/{r.variant}: {r.note}" for r in rows if r.note]
    return lines + notes


def terminal_summary(terminalreporter: Any) -> None:
    """Called from tests/conftest.py's ``pytest_terminal_summary``."""
    if not RESULTS:
        return
    terminalreporter.section("reliability: faults injected, events checked, losses")
    for line in summary_table(RESULTS):
        terminalreporter.write_line(line)
    total = sum(r.lost + r.duplicates for r in RESULTS)
    terminalreporter.write_line(f"lost + duplicates + double charges: {total} (target 0)")


# --------------------------------------------------------------------------- a season


def split_points(rng: random.Random, n_events: int, pieces: int) -> list[int]:
    """``pieces`` chunks of the season cut at random event indexes. The first chunk (the
    one before the year closes) holds 40-60 % of the season, so the release computes most
    returns and every later chunk still has late records that make new versions."""
    first = rng.randint(n_events * 2 // 5, n_events * 3 // 5)
    cuts = sorted(rng.sample(range(first + 1, n_events), pieces - 2)) if pieces > 2 else []
    return [0, first, *cuts, n_events]


def publish_events(settings: Settings, events: list[Event], rate: float = 0) -> None:
    asyncio.run(publish(events, settings, settings.topic_namespace, rate=rate))


def close(settings: Settings, season: Season) -> None:
    asyncio.run(close_year(season.tax_year, settings, settings.topic_namespace))


def registry_partitions(settings: Settings) -> list[TopicPartition]:
    return [
        TopicPartition(namespaced(registry_topic(r), settings.topic_namespace), p)
        for r in REGISTRIES
        for p in range(settings.partitions)
    ]


async def group_offsets(
    settings: Settings,
) -> tuple[dict[TopicPartition, int | None], dict[TopicPartition, int]]:
    """The registry path's committed offsets (its consumer group, streams/transactions.py)
    and the end offsets of the registry topics."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        **client_options(settings),
        group_id=f"{settings.app_id}-registry",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        tps = registry_partitions(settings)
        consumer.assign(tps)
        committed = {tp: await consumer.committed(tp) for tp in tps}
        return committed, await consumer.end_offsets(tps)
    finally:
        await consumer.stop()


class SeasonRun:
    """A worker (restarted as needed) on one isolated pipeline, and the oracle check."""

    def __init__(self, settings: Settings, season: Season, log_dir: Path) -> None:
        self.settings = settings
        self.season = season
        self.log_dir = log_dir
        self.repository = ReturnsRepository(make_session_factory(make_engine(settings.database)))
        self.check = ProjectionCheck(self.repository, expected_returns(season), season.tax_year)
        self.workers = 0
        self.worker = self.start_worker()

    def start_worker(self) -> WorkerProcess:
        self.workers += 1
        self.worker = WorkerProcess(
            self.settings, self.log_dir / f"worker-{self.workers}.log"
        ).start()
        return self.worker

    def wait(self, probe: Callable[[], Any], what: str, timeout_s: float = 180) -> Any:
        return wait_until(
            lambda: self.worker.assert_alive() or probe(),
            timeout_s=timeout_s,
            what=what,
            describe=lambda: f"{self.check!r}\n{self.worker.log_tail()}",
        )

    def caught_up(self) -> bool:
        """The worker group has committed every registry message published so far."""
        committed, ends = asyncio.run(group_offsets(self.settings))
        return all((committed[tp] or 0) >= ends[tp] for tp in ends)

    def progressed(self, before: int, more: int) -> bool:
        """``more`` versions projected since ``before``, or nothing left to read (a chunk
        may change fewer returns than that)."""
        return self.versions() >= before + more or self.caught_up()

    def versions(self) -> int:
        try:
            return self.repository.count_versions()
        except Exception:  # the database may be away (the outage test)
            return -1

    def wait_correct(self, timeout_s: float = 240) -> float:
        """Wait until every taxpayer's current return equals the oracle; the time it took."""
        t0 = time.monotonic()
        self.wait(self.check, "every return equal to the oracle", timeout_s)
        return time.monotonic() - t0

    def duplicates(self) -> list[str]:
        return repeated_identical_versions(
            self.repository, self.season.taxpayers, self.season.tax_year
        )

    def stop(self) -> None:
        assert self.worker.stop() == 0, self.worker.log_tail()
