"""Projection agents: ``returns.v1`` and ``registry.population.v1`` ► the database, in
batches, idempotently (a replay after a crash writes nothing twice). Each keeps a mark of
what it has written in the database and reads back any range faust skipped (agents/gaps.py)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import orjson

from agents.db_retry import with_retry
from agents.gaps import GapReader, fill_gaps, next_offsets
from agents.ingest_batch import Message
from contracts.registry_events import EventRejected, ValidationPolicy, decode_event
from proactax.clock import Clock
from storage.consumer_marks import ConsumerMarks
from storage.people import PeopleRepository, PersonUpdate
from storage.returns_repository import ReturnsRepository
from streams.topology import Topology

log = logging.getLogger(__name__)

BATCH_SIZE = 2_000
BATCH_WITHIN_S = 0.5
T = TypeVar("T")


async def _read(call: Callable[..., T], *args: Any) -> T:
    # Reads too: one that raised during an outage once lost a batch of 2,000 returns
    # (with nothing behind it on returns.v1 to show the gap; the database-outage test).
    return await with_retry(call, *args, who="projection", what="read")


async def _write(write: Callable[..., Any], *args: Any) -> None:
    await with_retry(write, *args, who="projection")


def wire(
    app: Any,
    topology: Topology,
    repository: ReturnsRepository,
    people: PeopleRepository,
    policy: ValidationPolicy,
    clock: Clock,
    marks: ConsumerMarks,
    reader: GapReader,
) -> None:
    async def batches(stream: Any, consumer: str) -> AsyncIterator[list[Message]]:
        """The stream's batches, each with any range faust skipped read back in front;
        the consumer's marks move once the caller has written a batch."""
        async for events in stream.take_events(BATCH_SIZE, within=BATCH_WITHIN_S):
            messages = [
                Message(e.message.topic, e.message.partition, e.message.offset, None, e.value)
                for e in events
            ]
            held = await _read(marks.get, consumer, {(m.topic, m.partition) for m in messages})
            messages = await fill_gaps(messages, held, reader)
            yield messages
            await _write(marks.advance, consumer, next_offsets(messages))

    @app.agent(topology.returns, name="returns_projection", concurrency=1)
    async def returns_projection(stream: Any) -> None:
        async for batch in batches(stream, "returns_projection"):
            values = [orjson.loads(m.value or b"") for m in batch]
            await _write(repository.save_versions, values, clock.now())

    @app.agent(topology.population, name="people_projection", concurrency=1)
    async def people_projection(stream: Any) -> None:
        async for batch in batches(stream, "people_projection"):
            updates = []
            for message in batch:
                try:  # invalid events are dead-lettered by the registry agent
                    event = decode_event(message.value, "population", policy)
                except EventRejected:
                    continue
                updates.append(PersonUpdate(event.pinfl, event.revision, event.data))
            await _write(people.apply, updates, clock.now())
