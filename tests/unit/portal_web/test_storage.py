"""Migration 0005 matches the models; feed-health observations and counting once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from agents.feed_health import observe, registry_of
from storage.all_models import Base
from storage.database import make_engine, make_session_factory
from storage.feed_health import FeedHealthRepository, Observation
from storage.migrate import upgrade
from streams.committed import Record

DAY = dt.date(2027, 2, 1)
NOW = dt.datetime(2027, 2, 1, 5, tzinfo=dt.UTC)


def test_the_migration_matches_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    upgrade(url)
    with make_engine(url).connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [d for d in diffs if "portal_" in repr(d) or "feed_health" in repr(d)] == []


def Ev(message: tuple[str, int, int], value: bytes) -> Record:
    return Record(*message, None, value)


def test_observations_of_events_dead_letters_and_closures() -> None:
    assert registry_of("ns.registry.payroll.v1") == "payroll"
    assert registry_of("registry.deadletter.v1") == "deadletter"
    event = observe(Ev(("ns.registry.rental.v1", 2, 9), b"{}"), DAY)
    assert (event.kind, event.registry, event.offset) == ("event", "rental", 9)
    dead = json.dumps({"source_topic": "ns.registry.payroll.v1", "source_partition": 1,
                       "source_offset": 44, "reason_code": "schema"}).encode()  # fmt: skip
    o = observe(Ev(("ns.registry.deadletter.v1", 0, 3), dead), DAY)
    assert (o.kind, o.registry, o.reason_code, o.source) == (
        "deadletter", "payroll", "schema", ("ns.registry.payroll.v1", 1, 44)
    )  # fmt: skip
    closed = json.dumps({"registry": "payroll", "tax_year": 2026,
                         "closed_at": "2027-01-31T23:00:00+05:00"}).encode()  # fmt: skip
    c = observe(Ev(("registry.period_closed.v1", 0, 0), closed), DAY)
    assert (c.kind, c.registry, c.tax_year) == ("closure", "payroll", 2026)
    assert observe(Ev(("registry.period_closed.v1", 0, 1), b"nonsense"), DAY) is None
    garbled = observe(Ev(("registry.deadletter.v1", 0, 4), b"\xff"), DAY)
    assert (garbled.registry, garbled.reason_code) == ("unknown", "unknown")


def test_counts_are_kept_once_per_offset_and_per_source(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    upgrade(url)
    repo = FeedHealthRepository(make_session_factory(make_engine(url)))
    events = [Observation("t", 0, i, DAY, "event", "payroll") for i in range(5)]
    dead = Observation("d", 0, 0, DAY, "deadletter", "payroll", "schema", source=("t", 0, 3))
    replayed = dataclasses.replace(dead, offset=1)  # the same bad event dead-lettered again
    assert repo.record([*events, dead], NOW) == 6
    assert repo.record([*events, dead, replayed], NOW) == 0
    assert repo.totals() == {("event", "payroll", ""): 5, ("deadletter", "payroll", "schema"): 1}
    older = Observation("c", 0, 0, DAY, "closure", "rental", tax_year=2026, closed_at="2027-01-30")
    newer = dataclasses.replace(older, offset=1, closed_at="2027-01-31")
    repo.record([older, newer], NOW)
    assert [c.closed_at for c in repo.closures()] == ["2027-01-31"]


def test_events_are_counted_once_from_read_positions(tmp_path: Path) -> None:
    """The registry agent's read positions are counted by a sweep: a position going back
    (a replay after a crash) or swept twice (two workers in a rebalance) adds nothing."""
    url = f"sqlite:///{tmp_path / 'x.db'}"
    upgrade(url)
    repo = FeedHealthRepository(make_session_factory(make_engine(url)))
    starts = {("registry.rental.v1", 1): 40}  # offsets below 40 were deleted unread
    assert repo.record_progress({("registry.payroll.v1", 0): ("payroll", 7)}, {}, DAY) == 7
    assert repo.record_progress({("registry.payroll.v1", 0): ("payroll", 7)}, {}, DAY) == 0
    assert repo.record_progress({("registry.payroll.v1", 0): ("payroll", 5)}, {}, DAY) == 0
    progress = {
        ("registry.payroll.v1", 0): ("payroll", 10),
        ("registry.rental.v1", 1): ("rental", 45),
    }
    assert repo.record_progress(progress, starts, DAY + dt.timedelta(days=1)) == 3 + 5
    assert repo.totals() == {("event", "payroll", ""): 10, ("event", "rental", ""): 5}
    assert [(r.day, r.registry, r.count) for r in repo.daily() if r.registry == "payroll"] == [
        (DAY, "payroll", 7),
        (DAY + dt.timedelta(days=1), "payroll", 3),
    ]
    # the per-message path and the sweep share the marks: nothing is counted twice
    replayed = Observation("registry.payroll.v1", 0, 9, DAY, "event", "payroll")
    assert repo.record([replayed], NOW) == 0
