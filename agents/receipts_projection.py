"""Receipts into the database (issue 17): ``registry.<registry>.receipts.v1`` ► the
``ingest_receipts`` table that ``GET /api/v1/registries/{registry}/events/{event_id}``
reads. Exactly once, as the other projections: streams/committed.py hands out batches and
the rows and the consumer's offsets commit in one transaction (storage/receipts.py).
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from agents.db_retry import with_retry
from contracts.topics import REGISTRIES, namespaced, registry_receipts_topic
from core.settings import Settings
from storage.receipts import ReceiptRecord, ReceiptRepository
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


class _ReceiptsMessage(msgspec.Struct):
    receipts: list[ReceiptRecord]


_decode_message = msgspec.json.Decoder(_ReceiptsMessage).decode


def receipts_of(record: Record) -> list[ReceiptRecord]:
    """A message's receipts as rows, in order; none (logged) if unreadable: our own worker
    wrote it. msgspec decodes straight into the rows (a fifth of the time of dicts)."""
    try:
        return _decode_message(record.value or b"").receipts
    except msgspec.DecodeError:
        log.error("receipts: unreadable receipts at %s[%s]@%s", *record_position(record))
        return []


def record_position(record: Record) -> tuple[str, int, int]:
    return record.topic, record.partition, record.offset


def wire(
    app: Any, settings: Settings, repository: ReceiptRepository, offsets: StreamOffsets
) -> None:
    names = [namespaced(registry_receipts_topic(r), settings.topic_namespace) for r in REGISTRIES]

    async def load(tps: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        return await with_retry(offsets.load, CONSUMER, tps, who="receipts", what="read")

    async def write(batch: Batch) -> None:
        pairs = [(r, row) for r in batch.records for row in receipts_of(r)]
        rows = [row for _, row in pairs]
        # one position per row: a message's rows are all written, or (a replay) none
        source = Source(CONSUMER, [record_position(r) for r, _ in pairs], batch.ends)
        await with_retry(repository.record, rows, source, who="receipts")

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
