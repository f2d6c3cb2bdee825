"""Committed offsets ahead of what the worker processed (what faust leaves behind when it
acks a batch that a kill -9 then cuts off; the random kills of test_worker_kills.py hit
it now and then, this test every time): the registry agent notices from its own durable
read positions, reads the gap with its own consumer, and nothing is lost even with many
newer messages in flight.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from proactax.kafka_client import client_options
from proactax.settings import Settings
from registries_mock.season import generate_season
from storage.migrate import upgrade
from tests.support.reliability import (
    Figures,
    SeasonRun,
    close,
    group_offsets,
    publish_events,
    record,
)

pytestmark = pytest.mark.integration

SKIP = 150  # messages skipped per partition


async def _skip_ahead(settings: Settings, skip: int) -> int:
    """Commit the worker group's offsets ``skip`` messages further on every registry
    partition the worker has read from (within the log); returns how many messages were
    skipped in all. (A partition it never read from has no read position of ours to
    notice a skip by: a known hole, see docs/reliability.md.)"""
    committed, ends = await group_offsets(settings)
    target = {tp: min(committed[tp] + skip, ends[tp]) for tp in ends if committed[tp]}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        **client_options(settings),
        group_id=settings.app_id,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        consumer.assign(list(target))
        await consumer.commit(target)
    finally:
        await consumer.stop()
    return sum(target[tp] - (committed[tp] or 0) for tp in target)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_offsets_committed_past_unprocessed_messages_lose_nothing(
    pipeline_settings: Settings, tmp_path: Path
) -> None:
    settings = pipeline_settings
    upgrade(settings.database)
    season = generate_season(
        n_people=200, tax_year=2026, seed=41, id_prefix=settings.topic_namespace
    )
    figures = record(Figures("offsets committed ahead", "fast", 41, events=len(season.events)))
    t0 = time.monotonic()
    half = len(season.events) * 3 // 5
    run = SeasonRun(settings, season, tmp_path)
    try:
        publish_events(settings, season.events[:half])
        close(settings, season)
        run.wait(run.caught_up, "the worker caught up with the first part")
        run.stop()
        publish_events(settings, season.events[half:])
        skipped = asyncio.run(_skip_ahead(settings, SKIP))
        figures.faults = 1
        figures.note = f"{skipped} messages committed without being processed"
        print(figures.note)
        assert skipped > 0
        run.start_worker()
        figures.recover_s.append(run.wait_correct(timeout_s=120))
        figures.duplicates = len(run.duplicates())
        assert run.duplicates() == []
        assert "offset gap on" in run.worker.log_path.read_text()
    finally:
        figures.seconds = time.monotonic() - t0
        run.stop()
