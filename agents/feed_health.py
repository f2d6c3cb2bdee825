"""Registry feed health for the STC dashboard: counts every registry event per day and
registry, every dead letter per day and reason (with the registry it came from), and the
newest ``period_closed`` per registry and tax year, into ``storage.feed_health``.

Dead letters and closures are read by a loop of their own (streams/committed.py: its
offsets are stored with the counts, in one transaction); registry events are
counted from the registry path's committed input offsets (``RegistrySweep``): a second
faust stream over every registry event cost about 40 % of the worker's time, a write per
batch a third of the agent's (docs/benchmarks.md). Observations are written off the event
loop. The repository stores the highest offset counted per partition with the counts, so
a replay after a crash counts nothing twice. The day is the worker clock's day in Tashkent
(the clock file of compressed seasons moves it too).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from typing import Any

from agents.db_retry import with_retry
from contracts import topics
from core.clock import TASHKENT, Clock
from core.settings import Settings
from storage.feed_health import FeedHealthRepository, Observation
from storage.stream_offsets import Source, StreamOffsets
from streams import committed, faults
from streams.committed import Batch, Record
from streams.topology import Topology

log = logging.getLogger(__name__)

CONSUMER = "feed_health"
BATCH_SIZE = 1000
BATCH_WITHIN_S = 1.0
_REGISTRY_TOPIC = re.compile(r"(?:^|\.)registry\.([a-z_]+)\.v1$")


def registry_of(topic_name: str) -> str:
    """``[ns.]registry.<name>.v1`` -> ``<name>`` (``""`` for anything else)."""
    match = _REGISTRY_TOPIC.search(topic_name)
    return match.group(1) if match else ""


def observe(record: Record, today: Any) -> Observation | None:
    """One record of a feed topic as an observation, or None if unreadable."""
    topic = record.topic
    base = dict(topic=topic, partition=record.partition, offset=record.offset, day=today)
    registry = registry_of(topic)
    if registry == "deadletter":
        origin = None
        try:
            value = json.loads(record.value or b"")
            source = registry_of(str(value.get("source_topic", ""))) or "unknown"
            reason = str(value.get("reason_code", "")) or "unknown"
            origin = (
                str(value["source_topic"])[:180],
                int(value["source_partition"]),
                int(value["source_offset"]),
            )
        except (ValueError, AttributeError, KeyError, TypeError):
            source, reason = "unknown", "unknown"
        return Observation(
            **base, kind="deadletter", registry=source, reason_code=reason[:32], source=origin
        )
    if registry == "period_closed":
        try:
            value = json.loads(record.value or b"")
            return Observation(
                **base,
                kind="closure",
                registry=str(value["registry"])[:32],
                tax_year=int(value["tax_year"]),
                closed_at=str(value["closed_at"])[:40],
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None  # dead-lettered by the period_closed agent; counted there
    if registry in topics.REGISTRIES:
        return Observation(**base, kind="event", registry=registry)
    return None


def writer(
    repository: FeedHealthRepository, clock: Clock, before_commit: Callable[[], None] | None = None
) -> Callable[[Batch], Any]:
    """Counts a batch and moves the consumer's offsets in one transaction."""

    async def write(batch: Batch) -> None:
        now = clock.now()
        today = now.astimezone(TASHKENT).date()
        items = [o for o in (observe(r, today) for r in batch.records) if o is not None]
        source = Source(CONSUMER, [(o.topic, o.partition, o.offset) for o in items], batch.ends)
        await with_retry(repository.record, items, now, source, before_commit, who="feed health")

    return write


class RegistrySweep:
    """Counts registry events from the registry path's committed offsets (every second,
    streams/transactions.py): what lies between the counted mark and the position is
    counted once, whatever crashes and replays happened, and the batch path carries no
    database write for it (one per batch cost a third of the agent's time,
    docs/benchmarks.md). While the database is away, the next sweep counts it all."""

    def __init__(self, repository: FeedHealthRepository, clock: Clock) -> None:
        self.repository = repository
        self.clock = clock

    async def __call__(
        self, positions: dict[tuple[str, int], int], starts: dict[tuple[str, int], int]
    ) -> None:
        progress = {}
        for (topic, partition), offset in positions.items():
            registry = registry_of(topic)
            if registry in topics.REGISTRIES:
                progress[(topic, partition)] = (registry, offset)
        today = self.clock.now().astimezone(TASHKENT).date()
        try:
            await asyncio.to_thread(self.repository.record_progress, progress, starts, today)
        except Exception:
            log.warning("feed health: counting failed; the next sweep counts it", exc_info=True)


def wire(
    app: Any,
    settings: Settings,
    topology: Topology,
    repository: FeedHealthRepository,
    offsets: StreamOffsets,
    clock: Clock,
) -> None:
    """Dead letters and closures, counted by a task of the faust worker."""
    names = [
        topology.contract[name].get_topic_name()
        for name in (topics.DEADLETTER, topics.PERIOD_CLOSED)
    ]

    async def load(tps: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        return await with_retry(offsets.load, CONSUMER, tps, who="feed health", what="read")

    @app.task
    async def feed_health() -> None:
        await committed.run(
            settings,
            CONSUMER,
            names,
            load,
            writer(repository, clock, faults.armed(settings, CONSUMER)),
            batch_size=BATCH_SIZE,
            within_s=BATCH_WITHIN_S,
        )
