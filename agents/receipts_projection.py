"""Receipts into the database (issue 17): ``registry.<registry>.receipts.v1`` ► the
``ingest_receipts`` table that ``GET /api/v1/registries/{registry}/events/{event_id}``
reads. Exactly once, as the other projections: streams/committed.py hands out batches and
the rows and the consumer's offsets commit in one transaction (storage/receipts.py).
"""

from __future__ import annotations

import logging
from typing import Any

from agents.db_retry import with_retry
from contracts.topics import REGISTRIES, namespaced, registry_receipts_topic
from core.settings import Settings
from storage.receipts import ReceiptRepository, holdable
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
    """Whether the database can hold a message's receipts (``storage.receipts.holdable``);
    one it cannot is logged and skipped: our own worker wrote it, so this is never expected,
    and written it would fail every retry of the batch."""
    if holdable(record.value or b""):
        return True
    log.error("receipts: unreadable receipts at %s[%s]@%s", *record_position(record))
    return False


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
