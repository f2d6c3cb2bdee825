"""Registry feed health for the STC dashboard: counts every registry event per day and
registry, every dead letter per day and reason (with the registry it came from), and the
newest ``period_closed`` per registry and tax year, into ``storage.feed_health``.

Dead letters and closures are read by a thin agent of their own; registry events are
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
from typing import Any

from agents.db_retry import with_retry
from contracts import topics
from proactax.clock import TASHKENT, Clock
from storage.feed_health import FeedHealthRepository, Observation
from streams.topology import Topology

log = logging.getLogger(__name__)

BATCH_SIZE = 1000
BATCH_WITHIN_S = 1.0
_REGISTRY_TOPIC = re.compile(r"(?:^|\.)registry\.([a-z_]+)\.v1$")


def registry_of(topic_name: str) -> str:
    """``[ns.]registry.<name>.v1`` -> ``<name>`` (``""`` for anything else)."""
    match = _REGISTRY_TOPIC.search(topic_name)
    return match.group(1) if match else ""


def observe(event: Any, today: Any) -> Observation | None:
    """One faust event (message + raw value) as an observation, or None if unreadable."""
    message = event.message
    topic = message.topic
    base = dict(topic=topic, partition=message.partition, offset=message.offset, day=today)
    registry = registry_of(topic)
    if registry == "deadletter":
        origin = None
        try:
            value = json.loads(event.value)
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
            value = json.loads(event.value)
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


async def _write(repository: FeedHealthRepository, items: list[Observation], clock: Clock) -> None:
    await with_retry(lambda: repository.record(items, clock.now()), who="feed health")


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


def wire(app: Any, topology: Topology, repository: FeedHealthRepository, clock: Clock) -> None:
    feeds = app.topic(
        *(
            topology.contract[name].get_topic_name()
            for name in (topics.DEADLETTER, topics.PERIOD_CLOSED)
        ),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )

    @app.agent(feeds, name="feed_health", concurrency=1)
    async def feed_health(stream: Any) -> None:
        async for batch in stream.take_events(BATCH_SIZE, within=BATCH_WITHIN_S):
            today = clock.now().astimezone(TASHKENT).date()
            items = [o for o in (observe(event, today) for event in batch) if o is not None]
            await _write(repository, items, clock)
