"""Many records to one partition as whole record batches, through aiokafka's public batch
API (``create_batch`` / ``send_batch``), inside the producer's transaction.

A batch's changelog is one record per changed ledger, thousands a transaction, all to the
task's own partition. ``producer.send`` costs a coroutine, a metadata check and a future
per record; a record batch costs an append (aiokafka's C builder) per record and one
future per ≈ 1 MB. The records, their order and the transaction are the same.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable
from typing import Any


@dataclasses.dataclass(frozen=True)
class SentBatch:
    future: asyncio.Future[Any]  # resolves to the batch's RecordMetadata (its base offset)
    records: int


async def send_in_batches(
    producer: Any, topic: str, partition: int, records: Iterable[tuple[bytes, bytes | None]]
) -> list[SentBatch]:
    """Append ``records`` (key, value; a None value is a tombstone) to record batches of
    the producer's batch size and hand each full one to the producer, in order."""
    sent: list[SentBatch] = []
    builder, count = producer.create_batch(), 0
    for key, value in records:
        if builder.append(key=key, value=value, timestamp=None) is None:  # full
            future = await producer.send_batch(builder, topic, partition=partition)
            sent.append(SentBatch(future, count))
            builder, count = producer.create_batch(), 0
            builder.append(key=key, value=value, timestamp=None)  # a new batch takes one
        count += 1
    if count:
        future = await producer.send_batch(builder, topic, partition=partition)
        sent.append(SentBatch(future, count))
    return sent


def last_offset(sent: list[SentBatch]) -> int | None:
    """The offset of the last record sent (the batches acknowledged), or None."""
    if not sent:
        return None
    return max(batch.future.result().offset + batch.records - 1 for batch in sent)
