"""Offset gaps in a faust stream, and reading them back from Kafka.

faust acks (and so commits) messages its stream skips around a rebalance or a recovery,
and after a seek its consumer drops every message below the highest offset it has
delivered. So each of our agents keeps its own mark of what it has written (the ledger
agent in its ``positions`` table, the projections in the database: storage/consumer_marks.py)
and, when a batch starts past its mark, reads the missing range with a consumer of its
own before going on.
"""

from __future__ import annotations

import asyncio
from typing import Any

from agents.ingest_batch import Message
from proactax.kafka_client import client_options
from proactax.settings import Settings

TopicPartitionKey = tuple[str, int]


class GapReader:
    """Reads a range of one partition with a consumer of its own (no group, no commits).

    faust's consumer is no help here: after a seek it drops every message below the
    highest offset it has delivered, and prefetched later messages arrive first."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.consumer: Any = None
        # Agents share a reader: one consumer, one range at a time. Without the lock a
        # second agent got the consumer while the first was still starting it (aiokafka:
        # "'NoneType' object has no attribute 'beginning_offsets'", a crashed agent).
        self._one_at_a_time = asyncio.Lock()

    async def _consumer(self) -> Any:
        from aiokafka import AIOKafkaConsumer

        if self.consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.settings.bootstrap_servers,
                **client_options(self.settings),
                enable_auto_commit=False,
                max_partition_fetch_bytes=4 * 1024 * 1024,
            )
            await consumer.start()
            self.consumer = consumer
        return self.consumer

    async def close(self) -> None:
        async with self._one_at_a_time:
            if self.consumer is not None:
                consumer, self.consumer = self.consumer, None
                await consumer.stop()

    def close_with(self, app: Any) -> GapReader:
        """Stop the consumer when the faust app shuts down (else: "Unclosed AIOKafkaConsumer")."""

        async def close(sender: Any, **_: Any) -> None:
            await self.close()

        app.on_before_shutdown.connect(close, weak=False)
        return self

    async def earliest(self, tps: list[TopicPartitionKey]) -> dict[TopicPartitionKey, int]:
        """Where a consumer group that has never committed starts (``earliest``): a first
        batch that starts later was skipped too."""
        from aiokafka import TopicPartition

        if not tps:
            return {}
        async with self._one_at_a_time:
            consumer = await self._consumer()
            offsets = await consumer.beginning_offsets([TopicPartition(t, p) for t, p in tps])
        return {(tp.topic, tp.partition): int(offset) for tp, offset in offsets.items()}

    async def read(self, topic: str, partition: int, start: int, end: int) -> list[Message]:
        from aiokafka import TopicPartition

        async with self._one_at_a_time:
            consumer = await self._consumer()
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            consumer.seek(tp, start)
            found: list[Message] = []
            while await consumer.position(tp) < end:
                batches = await consumer.getmany(tp, timeout_ms=1000)
                for record in batches.get(tp, []):
                    if record.offset < end:
                        found.append(
                            Message(topic, partition, record.offset, record.key, record.value)
                        )
            return found


async def fill_gaps(
    messages: list[Message], marks: dict[TopicPartitionKey, int], reader: GapReader
) -> list[Message]:
    """``messages`` with, before the first one of each partition that starts past its mark
    (or past the log's start, with no mark yet), the messages in between (a replay below
    a mark is kept: it is harmless)."""
    first: dict[TopicPartitionKey, int] = {}
    for m in messages:
        first.setdefault((m.topic, m.partition), m.offset)
    marks = {**await reader.earliest([tp for tp in first if tp not in marks]), **marks}
    missing: list[Message] = []
    for (topic, partition), offset in first.items():
        mark = marks.get((topic, partition))
        if mark is not None and offset > mark:
            missing += await reader.read(topic, partition, mark, offset)
    return missing + messages


def next_offsets(messages: list[Message]) -> dict[TopicPartitionKey, int]:
    ends: dict[TopicPartitionKey, int] = {}
    for m in messages:
        key = (m.topic, m.partition)
        ends[key] = max(ends.get(key, 0), m.offset + 1)
    return ends
