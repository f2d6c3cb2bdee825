"""Restoring a store of the registry path from its changelog (streams/transactions.py
opens a task with it; streams/state.py holds the store)."""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer, TopicPartition

from core.settings import Settings
from streams import faults
from streams.state import TableStore

log = logging.getLogger(__name__)


async def restore_store(
    settings: Settings, store: TableStore, tp: TopicPartition, consumer: AIOKafkaConsumer
) -> None:
    """The changelog partition ``tp`` from the store's checkpoint to its end, read with
    ``consumer`` (read_committed, not started; stopped here), applied in chunks of
    ``settings.restore_chunk`` records, each with its checkpoint."""
    await consumer.start()
    try:
        consumer.assign([tp])
        begin = (await consumer.beginning_offsets([tp]))[tp]
        end = (await consumer.end_offsets([tp]))[tp]
        checkpoint = store.checkpoint()
        start = begin if checkpoint is None or checkpoint < begin else checkpoint
        if start >= end:
            return
        log.info("restoring %s[%s] from %s to %s", tp.topic, tp.partition, start, end)
        consumer.seek(tp, start)
        chunk: list[tuple[bytes, bytes | None]] = []
        applied = 0
        while await consumer.position(tp) < end:
            fetched = await consumer.getmany(tp, timeout_ms=50, max_records=settings.restore_chunk)
            for record in fetched.get(tp, []):
                if record.offset < end and record.key is not None:
                    chunk.append((record.key, record.value))
            position = min(await consumer.position(tp), end)
            if chunk:
                store.apply_raw(chunk, position)
                applied += len(chunk)
                chunk = []
                faults.hit(settings, "restore")  # part restored, part not
        store.apply_raw([], end)
        log.info("restored %s[%s]: %d records", tp.topic, tp.partition, applied)
    finally:
        await consumer.stop()
