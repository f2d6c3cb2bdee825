"""The registry loop's time log (streams/loop_times.py)."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator

import pytest

from streams import loop_times
from streams.loop_times import LoopTimes


def test_the_line_says_each_share_of_the_period(monkeypatch: pytest.MonkeyPatch) -> None:
    collector = loop_times.CollectorTotals(seconds=1.0, full=3)
    monkeypatch.setattr(loop_times, "COLLECTOR", collector)
    times = LoopTimes(since=100.0)
    times.batch(records=4_000, wall=6.0)
    times.batch(records=1_000, wall=3.0)
    times.compute, times.fetch_wait, times.progress, times.opening = 6.0, 0.5, 0.25, 1.0
    collector.seconds, collector.full = 1.7, 5  # 0.7 s and two full collections this period
    assert times.line(now=110.0) == (
        "registry loop, last 10s: 2 batches, 5000 records; computing 60%, waiting for"
        " commits 30%, for records 5%, feed health 2%, opening tasks 10%;"
        " cycle collector 7% (2 full)"
    )


@pytest.fixture
def unwatched() -> Iterator[None]:
    yield
    while loop_times.COLLECTOR.callback in gc.callbacks:
        gc.callbacks.remove(loop_times.COLLECTOR.callback)


@pytest.mark.usefixtures("unwatched")
def test_the_collectors_pauses_are_counted_once_watched() -> None:
    before = (loop_times.COLLECTOR.seconds, loop_times.COLLECTOR.full)
    loop_times.watch_collector()
    loop_times.watch_collector()  # once a process, however often asked
    assert gc.callbacks.count(loop_times.COLLECTOR.callback) == 1
    gc.collect(0)
    gc.collect()  # the oldest generation: a full collection
    assert loop_times.COLLECTOR.full == before[1] + 1
    assert loop_times.COLLECTOR.seconds > before[0]


def test_it_logs_once_a_period_and_starts_a_new_one(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="streams.loop_times")
    times = LoopTimes()
    times.batch(records=10, wall=0.1)
    assert times.log_if_due() is times  # not yet
    monkeypatch.setattr(loop_times, "LOG_EVERY_S", 0.0)
    fresh = times.log_if_due()
    assert fresh is not times and fresh.batches == 0
    assert [r.getMessage()[:40] for r in caplog.records] == [
        "registry loop, last 0s: 1 batches, 10 re"
    ]
    assert fresh.log_if_due() is not fresh  # a period with no batch logs nothing
    assert len(caplog.records) == 1


def test_a_tasks_opening_is_told_step_by_step() -> None:
    assert loop_times.opening_times(10.0, 10.5, 12.25, 12.5) == (
        "in 2.50 s (fencing 0.50, restore 1.75, offsets 0.25)"
    )
