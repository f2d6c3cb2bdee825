"""Receipts into the database (issue 17): ``registry.<registry>.receipts.v1`` ► the
``ingest_receipts`` table that ``GET /api/v1/registries/{registry}/events/{event_id}``
reads. Exactly once, as the other projections: streams/committed.py hands out batches and
the rows and the consumer's offsets commit in one transaction (storage/receipts.py).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import msgspec

from agents.db_retry import with_retry
from contracts.topics import RECEIPTS_SCHEMA, REGISTRIES, namespaced, registry_receipts_topic
from contracts.typed_events import topic_type
from core.settings import Settings
from storage.receipts import ReceiptRepository
from storage.stream_offsets import Source, StreamOffsets
from streams import committed
from streams.committed import Batch, Record

log = logging.getLogger(__name__)

CONSUMER = "receipts"
# A message holds up to 1,000 receipts (contracts/receipts.py), so a write of 10 holds at
# most 10,000 rows. Batches of 2,000 messages (up to 2 million rows when the projection
# was behind) filled a 64 MiB malloc arena in every database thread: the worker's RSS
# grew with the backlog (docs/benchmarks.md, the million-resident run).
MESSAGES_PER_WRITE = 10
FETCH_BYTES = 1024 * 1024  # per partition: ≈ 4 messages prefetched, not 16


def readable(record: Record) -> bool:
    """Whether a message is a receipts message its schema accepts (msgspec, the type
    generated from contracts/schemas/registry.receipts.v1.json: ≈ 1.5 µs a receipt); one
    that is not is logged and skipped, never written: our own worker wrote it, and a value
    the table cannot hold would otherwise fail every retry of the batch."""
    try:
        _decode_message(record.value or b"")
    except msgspec.DecodeError:  # ValidationError is one
        log.error("receipts: unreadable receipts at %s[%s]@%s", *record_position(record))
        return False
    return True


@functools.cache
def _receipts_decoder() -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(topic_type(RECEIPTS_SCHEMA))


def _decode_message(value: bytes) -> Any:
    return _receipts_decoder().decode(value)


def record_position(record: Record) -> tuple[str, int, int]:
    return record.topic, record.partition, record.offset


def wire(
    app: Any, settings: Settings, repository: ReceiptRepository, offsets: StreamOffsets
) -> None:
    names = [namespaced(registry_receipts_topic(r), settings.topic_namespace) for r in REGISTRIES]

    async def load(tps: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        return await with_retry(offsets.load, CONSUMER, tps, who="receipts", what="read")

    async def write(batch: Batch) -> None:
        records = [r for r in batch.records if readable(r)]
        # one position per message: its receipts are all written, or (a replay) none
        source = Source(CONSUMER, [record_position(r) for r in records], batch.ends)
        values = [r.value or b"" for r in records]
        await with_retry(repository.record, values, source, who="receipts")

    @app.task
    async def receipts_projection() -> None:
        await committed.run(
            settings,
            CONSUMER,
            names,
            load,
            write,
            batch_size=MESSAGES_PER_WRITE,
            within_s=0.2,
            fetch_bytes=FETCH_BYTES,
        )
