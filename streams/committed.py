"""The consumer of the database projections: positions live in the database, not in Kafka.

The one way of consuming for a projection that writes SQL (returns, people, feed health):

1. aiokafka ``AIOKafkaConsumer`` reading ``read_committed`` (an aborted transaction's
   records are never seen), no auto-commit and no offset commit at all: the consumer
   group only shares the partitions out.
2. When it is given partitions, it reads their stored next offsets from the database
   (``load``) and seeks to them, or to the log's start for a partition never written.
   No batch is handed out while that runs: aiokafka lets its fetcher start on a newly
   given partition (from the log's start: nothing is committed in Kafka) before the
   listener has run (aio-libs/aiokafka#738), so records fetched across a rebalance are
   dropped and their partitions sought to the stored offsets again.
3. It hands out batches (``Batch``); the caller writes the rows AND the batch's next
   offsets in ONE database transaction (storage/stream_offsets.py ``admit``), so a crash
   keeps both or neither, and a replay writes nothing twice.
4. A stale owner: when partitions are taken away the listener first waits (bounded) for
   the batch being written to commit, so the new owner normally loads the newest offsets.
   If the write outlasts that wait (the database is away), the transaction itself is the
   guard: it drops every item below the stored offsets and moves them only forward, so a
   late commit from the old owner cannot move an offset back nor write twice what the
   new owner wrote.

Not a faust agent: faust acks messages its stream skipped around a rebalance
(docs/decisions/0003-a-stream-layer-of-our-own.md).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from core.kafka import client_options, group_timing
from core.settings import Settings

log = logging.getLogger(__name__)

TopicPartitionKey = tuple[str, int]
# Stored next offsets of some partitions (absent: never written), read from the database.
LoadOffsets = Callable[[list[TopicPartitionKey]], Awaitable[dict[TopicPartitionKey, int]]]

# How long a revocation waits for the batch in flight to commit before letting the group
# go on (the offset guard in the transaction covers a longer write).
REVOKE_WAIT_S = 10.0
READ_COMMITTED = "read_committed"


@dataclasses.dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclasses.dataclass(frozen=True, slots=True)
class Batch:
    """Records in offset order per partition, and the next offset of each partition read."""

    records: Sequence[Record]
    ends: dict[TopicPartitionKey, int]

    @property
    def positions(self) -> list[tuple[str, int, int]]:
        return [(r.topic, r.partition, r.offset) for r in self.records]


def consumer_options(settings: Settings) -> dict[str, Any]:
    """Options every consumer of a transactionally written topic takes: the bootstrap
    servers, the security options and ``read_committed``."""
    return {
        "bootstrap_servers": settings.bootstrap_servers,
        "isolation_level": READ_COMMITTED,
        **client_options(settings),
    }


def batch_of(records: dict[Any, list[Any]]) -> Batch:
    """A ``getmany`` result as a ``Batch``."""
    out: list[Record] = []
    ends: dict[TopicPartitionKey, int] = {}
    for tp in sorted(records, key=lambda tp: (tp.topic, tp.partition)):
        for m in records[tp]:
            out.append(Record(tp.topic, tp.partition, m.offset, m.key, m.value))
            ends[(tp.topic, tp.partition)] = max(
                ends.get((tp.topic, tp.partition), 0), m.offset + 1
            )
    return Batch(out, ends)


FETCH_BYTES = 4 * 1024 * 1024  # per partition and fetch: what aiokafka may prefetch


class SeekToStored(ConsumerRebalanceListener):
    def __init__(self, owner: CommittedConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.owner.rebalancing()
        # Let the batch being written commit first (bounded: the guard covers the rest).
        try:
            await asyncio.wait_for(self.owner.writing.acquire(), REVOKE_WAIT_S)
        except TimeoutError:
            log.warning("%s: a batch still writing as partitions go", self.owner.name)
            return
        self.owner.writing.release()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        try:
            await self.owner.seek_to_stored(list(assigned))
        except Exception as error:  # aiokafka would only log it: the consumer must restart
            self.owner.positioning_failed = error
        finally:
            self.owner.positioned.set()


class CommittedConsumer:
    """A group member that reads ``topics`` from the offsets stored in the database."""

    def __init__(
        self,
        settings: Settings,
        name: str,
        topics: Sequence[str],
        load: LoadOffsets,
        *,
        batch_size: int = 2000,
        within_s: float = 0.5,
        fetch_bytes: int = FETCH_BYTES,
    ) -> None:
        self.settings = settings
        self.fetch_bytes = fetch_bytes
        self.name = name
        self.topics = list(topics)
        self.load = load
        self.batch_size = batch_size
        self.within_s = within_s
        self.writing = asyncio.Lock()
        self.consumer: AIOKafkaConsumer | None = None
        # Set once the partitions given are sought to their stored offsets; cleared when a
        # rebalance begins. ``rebalances`` counts them, to tell a fetch that spanned one.
        self.positioned = asyncio.Event()
        self.rebalances = 0
        self.sought: dict[TopicPartition, int] = {}
        self.positioning_failed: Exception | None = None

    def rebalancing(self) -> None:
        """A rebalance begins: hand out nothing until the next assignment is positioned."""
        self.positioned.clear()
        self.rebalances += 1
        self.sought = {}

    async def seek_to_stored(self, assigned: list[TopicPartition]) -> None:
        consumer = self.consumer
        if consumer is None or not assigned:
            return
        stored = await self.load([(tp.topic, tp.partition) for tp in assigned])
        fresh = []
        for tp in assigned:
            offset = stored.get((tp.topic, tp.partition))
            if offset is None:
                fresh.append(tp)
            else:
                self.sought[tp] = offset
        if fresh:  # the log's start (not seek_to_beginning: it waits on the fetcher)
            self.sought.update(await consumer.beginning_offsets(fresh))
        for tp in assigned:
            consumer.seek(tp, self.sought[tp])
        log.info(
            "%s: given %s partition(s), %s resumed from the database",
            self.name,
            len(assigned),
            len(assigned) - len(fresh),
        )

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            group_id=f"{self.settings.app_id}-{self.name}",
            client_id=f"{self.settings.app_id}-{self.name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",  # a stored offset deleted by retention
            max_partition_fetch_bytes=self.fetch_bytes,
            **group_timing(),
            **consumer_options(self.settings),
        )
        self.consumer = consumer
        consumer.subscribe(self.topics, listener=SeekToStored(self))
        await consumer.start()

    async def stop(self) -> None:
        consumer, self.consumer = self.consumer, None
        if consumer is not None:
            await consumer.stop()

    async def batches(self) -> AsyncIterator[Batch]:
        """Batches until cancelled; the next batch is read once the caller has written this
        one (rows and offsets in one transaction)."""
        consumer = self.consumer
        assert consumer is not None, "start() first"
        while True:
            await self.positioned.wait()
            if self.positioning_failed is not None:
                raise self.positioning_failed
            rebalances = self.rebalances
            records = await consumer.getmany(
                timeout_ms=int(self.within_s * 1000), max_records=self.batch_size
            )
            if not records:
                continue
            if rebalances != self.rebalances:
                await self.positioned.wait()
                self.seek_again(records)
                continue
            async with self.writing:
                yield batch_of(records)

    def seek_again(self, dropped: dict[TopicPartition, Any]) -> None:
        """Records fetched across a rebalance are dropped: fetched before the seek to the
        stored offsets, the seek has moved their partition back already; fetched after
        it, their partition goes back to where the seek put it (nothing is written in
        between, so the stored offset is still the one sought)."""
        assert self.consumer is not None
        for tp in dropped:
            if tp in self.sought:  # not given to us any more: not ours to move
                self.consumer.seek(tp, self.sought[tp])


async def run(
    settings: Settings,
    name: str,
    topics: Sequence[str],
    load: LoadOffsets,
    write: Callable[[Batch], Awaitable[None]],
    *,
    batch_size: int = 2000,
    within_s: float = 0.5,
    fetch_bytes: int = FETCH_BYTES,
) -> None:
    """Read ``topics`` and ``write`` each batch until cancelled. A failure restarts the
    consumer, which seeks back to the stored offsets (nothing is skipped)."""
    while True:
        consumer = CommittedConsumer(
            settings,
            name,
            topics,
            load,
            batch_size=batch_size,
            within_s=within_s,
            fetch_bytes=fetch_bytes,
        )
        try:
            await consumer.start()
            async for batch in consumer.batches():
                await write(batch)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: the consume loop failed; starting again in 1s", name)
            await asyncio.sleep(1)
        finally:
            await consumer.stop()
