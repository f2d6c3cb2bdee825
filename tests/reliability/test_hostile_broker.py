"""10,000 hostile registry events through the real broker and a real worker process.

Valid events go first (the originals the conflicts reuse), then the hostile ones, then
more valid events. Every hostile event must come out on ``registry.deadletter.v1`` with
its expected reason_code and field (and its exact bytes), the worker must never stop,
and the valid events after the storm must still give every taxpayer the right return.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from contracts.deadletters import MAX_RAW_BYTES
from contracts.topics import ALL_TOPICS, DEADLETTER, namespaced, registry_topic
from contracts.validation import ValidationPolicy
from core.kafka import client_options
from core.settings import Settings
from devtools.registries_mock.publisher import close_year, publish
from storage.database import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.returns_repository import ReturnsRepository
from tests.reliability.hostile import hostile_run
from tests.reliability.test_logs_carry_no_pii import pii_in
from tests.support.oracle import ProjectionCheck, dead_letter_identity, expected_returns
from tests.support.waiting import wait_until
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration

TIMEOUT_S = 180
Identity = tuple[str, str | None, str, str | None, str]


class DeadLetterReader:
    """Reads the namespaced dead-letter topic from the start, a batch per call."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.letters: list[Identity] = []
        self.raw_reasons: list[str] = []

    on_batch: Callable[[], None] | None = None

    async def read(self, until: int) -> None:
        topic = namespaced(DEADLETTER, self.settings.topic_namespace)
        spec = next(t for t in ALL_TOPICS if t.name == DEADLETTER)
        partitions = [
            TopicPartition(topic, p) for p in range(spec.partitions(self.settings.partitions))
        ]
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap_servers,
            **client_options(self.settings),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_max_bytes=16 * 1024 * 1024,
            isolation_level="read_committed",
        )
        await consumer.start()
        try:
            consumer.assign(partitions)
            deadline = time.monotonic() + TIMEOUT_S
            while len(self.letters) < until and time.monotonic() < deadline:
                batches = await consumer.getmany(*partitions, timeout_ms=1000)
                for messages in batches.values():
                    for m in messages:
                        assert m.value is not None
                        self.letters.append(
                            dead_letter_identity(m.key, m.value, self.settings.topic_namespace)
                        )
                        self.raw_reasons.append(json.loads(m.value)["reason"])
                if self.on_batch is not None:
                    self.on_batch()
        finally:
            await consumer.stop()


def no_agent_crash(worker: WorkerProcess, log_path: Path) -> None:
    """The process alive is not enough: faust restarts a crashed agent in the same process,
    and an agent that crashes on an event crashes on it for ever."""
    worker.assert_alive()
    log = log_path.read_text(encoding="utf-8", errors="replace")
    assert "Last crash reason" not in log, worker.log_tail()


def expected_identity(event: object) -> Identity:
    from devtools.registries_mock.season import Event

    assert isinstance(event, Event) and event.fault is not None
    return (
        registry_topic(event.topic_registry),
        event.key,
        event.fault.reason_code,
        event.fault.field,
        hashlib.sha256(event.payload[:MAX_RAW_BYTES]).hexdigest(),
    )


@pytest.mark.timeout(600)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_hostile_events_all_land_in_dead_letters_and_the_worker_goes_on(
    pipeline_settings: Settings, tmp_path: Path
) -> None:
    settings = pipeline_settings
    policy = ValidationPolicy.from_settings(settings)
    run = hostile_run(policy, id_prefix=settings.topic_namespace)
    upgrade(settings.database)
    repository = ReturnsRepository(make_session_factory(make_engine(settings.database)))
    expected = Counter(expected_identity(e) for e in run.hostile)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    started = time.monotonic()
    try:
        namespace = settings.topic_namespace
        asyncio.run(publish(run.before, settings, namespace))
        asyncio.run(publish(run.hostile, settings, namespace))
        published = time.monotonic()
        asyncio.run(publish(run.after, settings, namespace))
        asyncio.run(close_year(run.season.tax_year, settings, namespace))
        reader = DeadLetterReader(settings)
        reader.on_batch = lambda: no_agent_crash(worker, tmp_path / "worker.log")
        asyncio.run(reader.read(until=len(run.hostile)))
        drained = time.monotonic()
        check = ProjectionCheck(repository, expected_returns(run.season), run.season.tax_year)
        wait_until(
            lambda: worker.assert_alive() or check(),
            timeout_s=TIMEOUT_S,
            what="every taxpayer's return equal to the oracle's after the hostile events",
            describe=lambda: f"{check!r}\nworker log:\n{worker.log_tail()}",
        )
        no_agent_crash(worker, tmp_path / "worker.log")
    finally:
        stopped = worker.stop()
    assert stopped == 0, worker.log_tail()
    got = Counter(reader.letters)
    assert got - expected == Counter(), f"unexpected dead letters: {list(got - expected)[:5]}"
    assert expected - got == Counter(), f"missing dead letters: {list(expected - got)[:5]}"
    assert all(reader.raw_reasons), "every dead letter carries a human sentence"
    log = (tmp_path / "worker.log").read_text(encoding="utf-8", errors="replace")
    names = tuple(n for p in run.season.people for n in p["full_name"].split() if len(n) > 3)
    leaked = pii_in(log, names)
    assert leaked == [], f"the worker logged personal data: {leaked[:10]}"
    by_reason = Counter(code for _, _, code, _, _ in reader.letters)
    print(
        f"\n{len(run.hostile):,} hostile + {len(run.before) + len(run.after):,} valid events: "
        f"published in {published - started:.1f}s, all {len(reader.letters):,} dead letters "
        f"read {drained - started:.1f}s after the start, returns right "
        f"{time.monotonic() - started:.1f}s after; by reason {dict(sorted(by_reason.items()))}"
    )
