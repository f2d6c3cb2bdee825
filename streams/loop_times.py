"""Where the registry loop's wall time goes, logged every ``LOG_EVERY_S``.

An operator reading a slow catch-up wants to know whether the worker computes (the
processors' own time), waits for the broker (sends, offsets and commits of its
transactions), waits for records (the fetch) or keeps opening tasks (rebalances): each
calls for a different fix (more workers, a faster broker, more partitions, a steadier
group). The figures are wall seconds of the event loop; tasks' transactions overlap, so
"waiting for commits" is the batches' wall time that no processor was computing (the
producer's own work on the loop included). The cycle collector's pauses are counted too
(``watch_collector``, the worker turns it on): a full collection stops the loop, and with
CPython's default thresholds they took a tenth of it (docs/benchmarks.md, sixteenth
session).
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import time
from typing import Any

log = logging.getLogger(__name__)

LOG_EVERY_S = 30.0


@dataclasses.dataclass
class CollectorTotals:
    """The cycle collector's pauses since the process began watching (``gc.callbacks``)."""

    seconds: float = 0.0
    full: int = 0  # collections of the oldest generation: the whole heap
    started: float = 0.0

    def callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
            return
        self.seconds += time.perf_counter() - self.started
        if info.get("generation") == 2:
            self.full += 1


COLLECTOR = CollectorTotals()


def watch_collector() -> None:
    """Count the collector's pauses for the loop's log line (once a process)."""
    if COLLECTOR.callback not in gc.callbacks:
        gc.callbacks.append(COLLECTOR.callback)


@dataclasses.dataclass
class LoopTimes:
    since: float = dataclasses.field(default_factory=time.monotonic)
    batches: int = 0
    records: int = 0
    fetch_wait: float = 0.0  # awaiting getmany
    compute: float = 0.0  # the processors (decode, validate, fold, compute returns)
    batch_wall: float = 0.0  # the batches from first processor to last commit
    progress: float = 0.0  # the feed-health sweep
    opening: float = 0.0  # opening tasks: producers, restores, seeks (start-up, rebalances)
    collector_since: tuple[float, int] = dataclasses.field(
        default_factory=lambda: (COLLECTOR.seconds, COLLECTOR.full)
    )

    def batch(self, records: int, wall: float) -> None:
        self.batches += 1
        self.records += records
        self.batch_wall += wall

    def line(self, now: float) -> str:
        span = max(now - self.since, 1e-9)
        commit_wait = max(self.batch_wall - self.compute, 0.0)
        collecting = COLLECTOR.seconds - self.collector_since[0]
        full = COLLECTOR.full - self.collector_since[1]
        return (
            f"registry loop, last {span:.0f}s: {self.batches} batches, {self.records} records;"
            f" computing {self.compute / span:.0%}, waiting for commits {commit_wait / span:.0%},"
            f" for records {self.fetch_wait / span:.0%}, feed health {self.progress / span:.0%},"
            f" opening tasks {self.opening / span:.0%};"
            f" cycle collector {collecting / span:.0%} ({full} full)"
        )

    def log_if_due(self) -> LoopTimes:
        """Log and start a new period when ``LOG_EVERY_S`` has passed; else self."""
        now = time.monotonic()
        if now - self.since < LOG_EVERY_S:
            return self
        if self.batches:
            log.info("%s", self.line(now))
        return LoopTimes(since=now)


def opening_times(started: float, fenced: float, restored: float, positioned: float) -> str:
    """A task's opening, by step (monotonic marks): what a slow rebalance waited for."""
    return (
        f"in {positioned - started:.2f} s (fencing {fenced - started:.2f},"
        f" restore {restored - fenced:.2f}, offsets {positioned - restored:.2f})"
    )
