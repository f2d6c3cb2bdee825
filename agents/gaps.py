"""Offset gaps in a faust stream, and reading them back from Kafka.

faust acks (and so commits) messages its stream skips around a rebalance or a recovery,
and after a seek its consumer drops every message below the highest offset it has
delivered. So each of our agents keeps its own mark of what it has written (the ledger
agent in its ``positions`` table, the projections in the database: storage/consumer_marks.py)
and, when a batch starts past its mark, reads the missing range with a consumer of its
own before going on.
"""

from __future__ import annotations

from typing import Any

from agents.ingest_batch import Message

TopicPartitionKey = tuple[str, int]


class GapReader:
    """Reads a range of one partition with a consumer of its own (no group, no commits).

    faust's consumer is no help here: after a seek it drops every message below the
    highest offset it has delivered, and prefetched later messages arrive first."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.consumer: Any = None

    async def _consumer(self) -> Any:
        from aiokafka import AIOKafkaConsumer

        if self.consumer is None:
            self.consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap_servers,
                enable_auto_commit=False,
                max_partition_fetch_bytes=4 * 1024 * 1024,
            )
            await self.consumer.start()
        return self.consumer

    async def earliest(self, tps: list[TopicPartitionKey]) -> dict[TopicPartitionKey, int]:
        """Where a consumer group that has never committed starts (``earliest``): a first
        batch that starts later was skipped too."""
        from aiokafka import TopicPartition

        if not tps:
            return {}
        consumer = await self._consumer()
        offsets = await consumer.beginning_offsets([TopicPartition(t, p) for t, p in tps])
        return {(tp.topic, tp.partition): int(offset) for tp, offset in offsets.items()}

    async def read(self, topic: str, partition: int, start: int, end: int) -> list[Message]:
        from aiokafka import TopicPartition

        await self._consumer()
        tp = TopicPartition(topic, partition)
        self.consumer.assign([tp])
        self.consumer.seek(tp, start)
        found: list[Message] = []
        while await self.consumer.position(tp) < end:
            batches = await self.consumer.getmany(tp, timeout_ms=1000)
            for record in batches.get(tp, []):
                if record.offset < end:
                    found.append(Message(topic, partition, record.offset, record.key, record.value))
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
