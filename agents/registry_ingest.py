"""The registry agent: batches of registry events ► ``agents/ingest_batch.py`` ► returns.

Faust-specific glue only: the tables as ``Store``s written to an explicit changelog
partition (a batch mixes partitions, so faust's "partition of the current event" would
be wrong), the producer as ``Outputs``, and the consumer's committed offsets.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from agents.gaps import GapReader
from agents.ingest_batch import Message, RegistryIngest, StallWatch, position_key
from contracts.registry_events import ValidationPolicy
from proactax.clock import Clock
from proactax.settings import Settings
from streams.topology import Topology

log = logging.getLogger(__name__)

BATCH_SIZE = 1_000
BATCH_WITHIN_S = 0.2


class ChangelogWrites:
    """Table writes held until the next flush, then sent with ``topic.send`` (straight to
    aiokafka's accumulator) so that ``producer.flush`` really waits for them. faust's own
    ``send_soon`` path goes through a buffer whose flush gives up after 0.1 s of quiet,
    which would make the state-before-outputs barrier of ingest_batch.py a hope."""

    def __init__(self) -> None:
        self.pending: dict[tuple[int, str], tuple[Any, int, str, Any]] = {}

    def add(self, table: Any, partition: int, key: str, value: Any) -> None:
        self.pending[(id(table), key)] = (table, partition, key, value)  # the last one wins

    async def send_all(self) -> None:
        writes, self.pending = list(self.pending.values()), {}
        for table, partition, key, value in writes:
            await table.changelog_topic.send(key=key, value=value, partition=partition)


class TableStore:
    """A faust table read locally and written to a given changelog partition."""

    def __init__(self, table: Any, writes: ChangelogWrites) -> None:
        self.table = table
        self.writes = writes

    def get(self, key: str) -> Any:
        return self.table.data.get(key)

    def put(self, partition: int, key: str, value: Any) -> None:
        self.table.data[key] = value
        # The memory store drops keys of partitions moved elsewhere by this map, which
        # only its changelog recovery fills; keep it true for keys written here too.
        key_partition = getattr(self.table.data, "_key_partition", None)
        if key_partition is not None:
            key_partition[key] = partition
        self.writes.add(self.table, partition, key, value)

    def items(self) -> Iterable[tuple[str, Any]]:
        return list(self.table.data.items())


class ProducerOutputs:
    def __init__(self, app: Any, topology: Topology, writes: ChangelogWrites) -> None:
        self.app = app
        self.topology = topology
        self.writes = writes

    async def send_return(self, pinfl: str, value: dict[str, Any]) -> None:
        await self.topology.returns.send(
            key=pinfl.encode(), value=json.dumps(value, ensure_ascii=False).encode()
        )

    async def send_dead_letter(self, key: bytes | None, value: bytes) -> None:
        await self.topology.deadletter.send(key=key, value=value)

    async def flush(self) -> None:
        await self.writes.send_all()
        await self.app.producer.flush()


class AckOnlyDone:
    """``take_events`` acks a batch's events in a ``finally``: also when processing raised
    or the worker is stopping mid-batch, so the next commit would pass events never
    processed. Wrapped so, the stream acks only a batch that completed; the unacked
    events hold the commit back (faust commits contiguous acks only) and our read
    position makes the next batch read them again (agents/ingest_batch.py)."""

    def __init__(self, stream: Any) -> None:
        self.done = True
        # an agent restarted by faust may get the same stream: wrap the original once
        original = getattr(stream, "_proactax_unwrapped_ack", None) or stream.ack
        stream._proactax_unwrapped_ack = original

        async def ack(event: Any) -> bool:
            if not self.done:
                return False
            acked: bool = await original(event)
            return acked

        stream.ack = ack

    def clear(self) -> None:
        self.done = False

    def set(self) -> None:
        self.done = True


EXIT_BATCH_FAILED = 70  # EX_SOFTWARE
STALL_CHECK_S = 2.0
MAX_GAP_ROUNDS = 5


def wire(
    app: Any,
    topology: Topology,
    settings: Settings,
    clock: Clock,
    parameters: Any,
    on_read: Callable[[list[Message]], Awaitable[None]] | None = None,
) -> Any:
    """``on_read`` gets every batch's read messages before the batch is acked (the feed
    health counter of agents/feed_health.py)."""
    gap_reader = GapReader(settings.bootstrap_servers)

    async def process(messages: list[Message]) -> list[Message]:
        """Process a batch and fill any gap it shows; return what was read."""
        unknown = {
            (m.topic, m.partition)
            for m in messages
            if ingest.positions.get(position_key(m.topic, m.partition)) is None
        }
        outcome = await ingest.process(messages, await gap_reader.earliest(sorted(unknown)))
        read = list(outcome.read)
        for _ in range(MAX_GAP_ROUNDS):
            if not outcome.gaps:
                return read
            refill: list[Message] = []
            for (topic, partition), start in outcome.gaps.items():
                held = outcome.held[(topic, partition)]
                refill += await gap_reader.read(topic, partition, start, held[0].offset)
                refill += held
            outcome = await ingest.process(refill)
            read += outcome.read
        raise RuntimeError(f"offset gaps still open after {MAX_GAP_ROUNDS} reads: {outcome.gaps}")

    writes = ChangelogWrites()
    ingest = RegistryIngest(
        namespace=settings.topic_namespace,
        release_topic=topology.year_released.get_topic_name(),
        policy=ValidationPolicy.from_settings(settings),
        parameters=parameters,
        clock=clock,
        ledgers=TableStore(topology.ledger, writes),
        releases=TableStore(topology.releases, writes),
        positions=TableStore(topology.positions, writes),
        outputs=ProducerOutputs(app, topology, writes),
    )

    stalls = StallWatch()
    one_at_a_time = asyncio.Lock()  # the batch loop and the stall check share the tables
    ours = set(topology.registry_stream.topics)

    @app.timer(interval=STALL_CHECK_S, on_leader=False)
    async def unstall() -> None:
        """Read, with our own consumer, a partition whose position stays behind the log's
        end (see StallWatch): faust skipped its last messages and has nothing more."""
        if app.rebalancing or app.in_recovery:  # positions are not all loaded yet
            return
        try:
            assigned = [tp for tp in app.consumer.assignment() if tp.topic in ours]
            ends = {(tp.topic, tp.partition): app.consumer.highwater(tp) for tp in assigned}
        except Exception:  # a rebalance began meanwhile: next time
            log.debug("stall check skipped", exc_info=True)
            return
        starts = await gap_reader.earliest([tp for tp in ends if ingest.position(*tp) is None])
        positions = {tp: ingest.position(*tp) or starts.get(tp) for tp in ends}
        due = stalls.due(positions, ends)
        if not due:
            return
        log.warning("registry partitions behind the log with no progress: %s", due)
        async with one_at_a_time:
            try:
                missing: list[Message] = []
                for (topic, partition), start in due.items():
                    end = ends[(topic, partition)]
                    if end is not None:
                        missing += await gap_reader.read(topic, partition, start, end)
                read = await process(missing)
                if on_read is not None:
                    await on_read(read)
            except Exception:
                log.critical("stalled partitions could not be read; exiting", exc_info=True)
                os._exit(EXIT_BATCH_FAILED)

    @app.agent(topology.registry_stream, name="registry_ingest", concurrency=1)
    async def registry_ingest(stream: Any) -> None:
        batch_done = AckOnlyDone(stream)
        async for events in stream.take_events(BATCH_SIZE, within=BATCH_WITHIN_S):
            batch_done.clear()
            started = time.perf_counter()
            try:
                async with one_at_a_time:
                    read = await process(
                        [
                            Message(
                                topic=e.message.topic,
                                partition=e.message.partition,
                                offset=e.message.offset,
                                key=e.message.key,
                                value=e.value,
                            )
                            for e in events
                        ]
                    )
                if on_read is not None:
                    await on_read(read)
            except Exception:
                # The tables in memory may now hold half a batch. Exit at once, before
                # faust can commit anything: the next start rebuilds them from the
                # changelog and reads the batch again (a poison batch shows as a crash
                # loop with this log, never as a silent loss).
                log.critical("registry batch failed; exiting to read it again", exc_info=True)
                os._exit(EXIT_BATCH_FAILED)
            batch_done.set()
            log.debug("batch of %d events in %.3fs", len(events), time.perf_counter() - started)

    return registry_ingest
