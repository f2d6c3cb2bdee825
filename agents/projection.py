"""Projection loops: ``returns.v1`` and ``registry.population.v1`` ► the database, in
batches, exactly once. Each reads with streams/committed.py: its input offsets are stored
in the same database transaction as the rows it writes (storage/stream_offsets.py), and it
resumes from them when it is given a partition."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from agents.db_retry import with_retry
from contracts.registry_events import EventRejected, ValidationPolicy, decode_event
from core.clock import Clock
from core.settings import Settings
from storage.people import PeopleRepository, PersonUpdate
from storage.returns_repository import EncodedReturn, ReturnsRepository
from storage.stream_offsets import Source, StreamOffsets
from streams import committed, faults
from streams.committed import Batch, TopicPartitionKey
from streams.topology import Topology

log = logging.getLogger(__name__)

BATCH_SIZE = 2_000
BATCH_WITHIN_S = 0.5
# People by 20,000: a person is a random insert into two indexes (PINFL, phone), so a
# batch dirties about a page of each per person until it is large beside the indexes; a
# million random people (bench/projection_writes.py) 47 ► 27 µs a person, with the
# 32 MiB page cache that holds such a batch's pages (storage/database.py). Returns stay
# at 2,000 (≈ 10 KB each, and their projection's lag is the steady state's latency).
PEOPLE_BATCH_SIZE = 20_000
# A return is ≈ 10 KB: at the default 4 MiB a partition the projection found ≈ 400 returns
# a partition per turn of the event loop, and it gets one turn between two release chunks,
# so it fell behind a long release (docs/benchmarks.md, ninth session). 16 MiB: lag p50
# 12.6 ► 4.6 s at 300,000 residents, ≈ 80 MiB more peak RSS.
RETURNS_FETCH_BYTES = 16 * 1024 * 1024
RETURNS = "returns_projection"
PEOPLE = "people_projection"
T = TypeVar("T")


async def _read(call: Callable[..., T], *args: Any) -> T:
    # Reads too: one that raised during an outage once lost a batch of 2,000 returns
    # (the database-outage test).
    return await with_retry(call, *args, who="projection", what="read")


async def _write(write: Callable[..., Any], *args: Any) -> None:
    await with_retry(write, *args, who="projection")


def loader(offsets: StreamOffsets, consumer: str) -> Callable[[list[TopicPartitionKey]], Any]:
    """The stored offsets of ``consumer``, read through database outages."""

    async def load(tps: list[TopicPartitionKey]) -> dict[TopicPartitionKey, int]:
        return await _read(offsets.load, consumer, tps)

    return load


def returns_writer(
    repository: ReturnsRepository, clock: Clock, before_commit: Callable[[], None] | None = None
) -> Callable[[Batch], Any]:
    async def write(batch: Batch) -> None:
        values: list[EncodedReturn] = []
        positions = []
        for record in batch.records:
            try:
                values.append(EncodedReturn.decode(record.value or b""))
            except ValueError:  # our own topic: never expected
                log.error("returns projection: unreadable value at offset %s", record.offset)
                continue
            positions.append((record.topic, record.partition, record.offset))
        source = Source(RETURNS, positions, batch.ends)
        await _write(repository.save_versions, values, clock.now(), source, before_commit)

    return write


def people_writer(
    people: PeopleRepository,
    policy: ValidationPolicy,
    clock: Clock,
    before_commit: Callable[[], None] | None = None,
) -> Callable[[Batch], Any]:
    async def write(batch: Batch) -> None:
        updates, positions = [], []
        for record in batch.records:
            try:  # invalid events are dead-lettered by the registry agent
                event = decode_event(record.value, "population", policy)
            except EventRejected:
                continue
            updates.append(PersonUpdate(event.pinfl, event.revision, event.data))
            positions.append((record.topic, record.partition, record.offset))
        source = Source(PEOPLE, positions, batch.ends)
        await _write(people.apply, updates, clock.now(), source, before_commit)

    return write


def wire(
    app: Any,
    settings: Settings,
    topology: Topology,
    repository: ReturnsRepository,
    people: PeopleRepository,
    offsets: StreamOffsets,
    clock: Clock,
) -> None:
    """Both projections as tasks of the faust worker."""
    policy = ValidationPolicy.from_settings(settings)
    run = functools.partial(committed.run, settings, batch_size=BATCH_SIZE, within_s=BATCH_WITHIN_S)

    @app.task
    async def returns_projection() -> None:
        await run(
            RETURNS,
            [topology.returns.get_topic_name()],
            loader(offsets, RETURNS),
            returns_writer(repository, clock, faults.armed(settings, RETURNS)),
            fetch_bytes=RETURNS_FETCH_BYTES,
        )

    @app.task
    async def people_projection() -> None:
        await run(
            PEOPLE,
            [topology.population.get_topic_name()],
            loader(offsets, PEOPLE),
            people_writer(people, policy, clock, faults.armed(settings, PEOPLE)),
            batch_size=PEOPLE_BATCH_SIZE,
        )
