"""streams/record_batches.py against a producer faked at aiokafka's batch API: records go
out in order, in batches the builder says are full, and the last offset is the last
record's (a store's checkpoint is the offset after it)."""

from __future__ import annotations

import asyncio
from typing import Any

from streams.record_batches import last_offset, send_in_batches


class Builder:
    """aiokafka's BatchBuilder, faked: full after ``capacity`` records (a first record is
    always taken, as aiokafka's is, whatever its size)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.records: list[tuple[bytes, bytes | None]] = []

    def append(self, *, key: bytes, value: bytes | None, timestamp: Any) -> object | None:
        if self.records and len(self.records) >= self.capacity:
            return None
        self.records.append((key, value))
        return object()


class Metadata:
    def __init__(self, offset: int) -> None:
        self.offset = offset


class Producer:
    """Each batch sent lands at the partition's end, like the broker's log."""

    def __init__(self, capacity: int, end: int) -> None:
        self.capacity = capacity
        self.end = end
        self.sent: list[tuple[str, int, list[tuple[bytes, bytes | None]]]] = []

    def create_batch(self) -> Builder:
        return Builder(self.capacity)

    async def send_batch(self, builder: Builder, topic: str, *, partition: int) -> Any:
        self.sent.append((topic, partition, builder.records))
        future = asyncio.get_running_loop().create_future()
        future.set_result(Metadata(self.end))
        self.end += len(builder.records)
        return future


async def test_records_go_in_order_in_full_batches_and_the_last_offset_is_the_last() -> None:
    producer = Producer(capacity=3, end=100)
    records = [(f"k{i}".encode(), None if i == 4 else f"v{i}".encode()) for i in range(7)]
    sent = await send_in_batches(producer, "ledger-changelog", 2, records)

    assert [len(batch) for _, _, batch in producer.sent] == [3, 3, 1]
    assert {(topic, partition) for topic, partition, _ in producer.sent} == {
        ("ledger-changelog", 2)
    }
    assert [r for _, _, batch in producer.sent for r in batch] == records  # tombstone kept
    assert [batch.records for batch in sent] == [3, 3, 1]
    assert last_offset(sent) == 106  # records at 100 .. 106


async def test_nothing_to_send_sends_no_batch() -> None:
    producer = Producer(capacity=3, end=0)
    assert await send_in_batches(producer, "t", 0, []) == []
    assert producer.sent == []
    assert last_offset([]) is None
