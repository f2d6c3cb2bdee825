"""The registry agent: batches of registry events ► ``agents/ingest_batch.py`` ► returns.

Faust-specific glue only: the tables as ``Store``s written to an explicit changelog
partition (a batch mixes partitions, so faust's "partition of the current event" would
be wrong), the producer as ``Outputs``, and the consumer's committed offsets.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson

from agents.gaps import GapReader
from agents.ingest_batch import (
    Message,
    PositionsBesideLedgers,
    RegistryIngest,
    StallWatch,
    is_position,
    position_key,
)
from contracts.registry_events import ValidationPolicy
from proactax.clock import Clock
from proactax.settings import Settings
from streams.topology import Topology

log = logging.getLogger(__name__)

BATCH_SIZE = 2_000
BATCH_WITHIN_S = 0.2


def wire_json(value: Any) -> bytes:
    """Compact UTF-8 JSON; orjson: the standard library's encoder was a tenth of a release."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


async def send_raw(
    app: Any, topic: str, key: bytes | None, value: bytes, partition: int | None = None
) -> None:
    """Hand a message to the transport's producer, not through faust's ``Topic.send``:
    that path (channels, future messages, headers) cost more per message than computing
    the return (docs/benchmarks.md). ``producer.flush`` waits for it like any other."""
    await app.producer.send(topic, key, value, partition, None, None)


class ChangelogWrites:
    """Table writes held until the next flush, then sent straight to the producer (its
    accumulator) so that ``producer.flush`` really waits for them. faust's own
    ``send_soon`` path goes through a buffer whose flush gives up after 0.1 s of quiet,
    which would make the state-before-outputs barrier of ingest_batch.py a hope. Keys
    and values are JSON, as the tables' changelog codecs read them back on recovery."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.pending: dict[tuple[str, str], tuple[int, Any]] = {}

    def add(self, table: Any, partition: int, key: str, value: Any) -> None:
        topic = table.changelog_topic.get_topic_name()
        self.pending[(topic, key)] = (partition, value)  # the last one wins

    async def send_all(self) -> None:
        writes, self.pending = self.pending, {}
        # read positions after the ledgers they cover (PositionsBesideLedgers)
        for (topic, key), (partition, value) in sorted(
            writes.items(), key=lambda write: is_position(write[0][1])
        ):
            await send_raw(self.app, topic, wire_json(key), wire_json(value), partition)


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
        self.returns_topic = topology.returns.get_topic_name()
        self.deadletter_topic = topology.deadletter.get_topic_name()
        self.writes = writes

    async def send_return(self, pinfl: str, value: dict[str, Any]) -> None:
        await send_raw(self.app, self.returns_topic, pinfl.encode(), wire_json(value))

    async def send_dead_letter(self, key: bytes | None, value: bytes) -> None:
        await send_raw(self.app, self.deadletter_topic, key, value)

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


Positions = dict[tuple[str, int], int]  # (topic, partition) -> offset

EXIT_BATCH_FAILED = 70  # EX_SOFTWARE
PROGRESS_EVERY_S = 1.0
STALL_CHECK_S = 2.0
MAX_GAP_ROUNDS = 5


def wire(
    app: Any,
    topology: Topology,
    settings: Settings,
    clock: Clock,
    parameters: Any,
    on_progress: Callable[[Positions, Positions], Awaitable[None]] | None = None,
) -> Any:
    """``on_progress`` gets, every PROGRESS_EVERY_S, the read position of every registry
    partition this worker holds and the log's start of each (the feed health counter of
    agents/feed_health.py: it counts events from positions, off the batch path)."""
    gap_reader = GapReader(settings).close_with(app)

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

    writes = ChangelogWrites(app)
    ledgers = TableStore(topology.ledger, writes)
    ingest = RegistryIngest(
        namespace=settings.topic_namespace,
        release_topic=topology.year_released.get_topic_name(),
        policy=ValidationPolicy.from_settings(settings),
        parameters=parameters,
        clock=clock,
        ledgers=ledgers,
        releases=TableStore(topology.releases, writes),
        positions=PositionsBesideLedgers(ledgers, legacy=TableStore(topology.positions, writes)),
        outputs=ProducerOutputs(app, topology, writes),
    )

    stalls = StallWatch()
    one_at_a_time = asyncio.Lock()  # the batch loop and the stall check share the tables
    ours = set(topology.registry_stream.topics)
    batches_done = 0  # the agent's progress, for StallWatch

    def delivered() -> dict[tuple[str, int], int | None]:
        """faust's last offset handed to the stream per partition (a private map of its
        consumer: without it a stall is only read once the agent is idle)."""
        read_offsets = getattr(app.consumer, "_read_offset", None) or {}
        return {(tp.topic, tp.partition): offset for tp, offset in list(read_offsets.items())}

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
        due = stalls.due(positions, ends, delivered(), batches_done, one_at_a_time.locked())
        if not due:
            return
        log.warning(
            "registry partitions behind the log with no progress: %s",
            {f"{t}[{p}]": f"{at}..{ends[(t, p)]}" for (t, p), at in due.items()},
        )
        async with one_at_a_time:
            try:
                missing: list[Message] = []
                for (topic, partition), due_from in due.items():
                    # a batch may have moved it while we waited for the lock
                    start = ingest.position(topic, partition) or due_from
                    end = ends[(topic, partition)]
                    if end is not None and start < end:
                        missing += await gap_reader.read(topic, partition, start, end)
                await process(missing)
            except Exception:
                log.critical("stalled partitions could not be read; exiting", exc_info=True)
                os._exit(EXIT_BATCH_FAILED)

    log_starts: Positions = {}  # the log's first offset, asked once per partition

    @app.timer(interval=PROGRESS_EVERY_S, on_leader=False)
    async def report_progress() -> None:
        if on_progress is None or app.rebalancing or app.in_recovery:
            return
        try:
            assigned = [tp for tp in app.consumer.assignment() if tp.topic in ours]
        except Exception:  # a rebalance began meanwhile: next time
            return
        positions = {
            (tp.topic, tp.partition): position
            for tp in assigned
            if (position := ingest.position(tp.topic, tp.partition)) is not None
        }
        unknown = [tp for tp in positions if tp not in log_starts]
        if unknown:
            log_starts.update(await gap_reader.earliest(unknown))
        await on_progress(positions, {tp: log_starts[tp] for tp in positions if tp in log_starts})

    @app.agent(topology.registry_stream, name="registry_ingest", concurrency=1)
    async def registry_ingest(stream: Any) -> None:
        nonlocal batches_done
        batch_done = AckOnlyDone(stream)
        async for events in stream.take_events(BATCH_SIZE, within=BATCH_WITHIN_S):
            batch_done.clear()
            started = time.perf_counter()
            try:
                async with one_at_a_time:
                    await process(
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
            except Exception:
                # The tables in memory may now hold half a batch. Exit at once, before
                # faust can commit anything: the next start rebuilds them from the
                # changelog and reads the batch again (a poison batch shows as a crash
                # loop with this log, never as a silent loss).
                log.critical("registry batch failed; exiting to read it again", exc_info=True)
                os._exit(EXIT_BATCH_FAILED)
            batch_done.set()
            batches_done += 1
            log.debug("batch of %d events in %.3fs", len(events), time.perf_counter() - started)

    return registry_ingest
