"""The database projection exactly-once (streams/committed.py + storage/stream_offsets.py),
on SQLite and PostgreSQL against the real broker: a restart resumes exactly at the stored
offsets, a replay writes nothing twice, and a worker killed (SIGKILL) after writing a
batch's rows but before its commit leaves neither the rows nor the offsets behind."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy import func, select

from agents.projection import RETURNS, loader, returns_writer
from contracts import topics
from contracts.topics import namespaced
from core.clock import SystemClock
from core.kafka import client_options
from core.settings import Settings
from devtools.registries_mock.publisher import close_year, publish
from devtools.registries_mock.season import generate_season
from storage.database import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.models import ReturnVersion
from storage.returns_repository import ReturnsRepository
from storage.stream_offsets import StreamOffsets
from streams import committed
from streams.committed import Batch
from tests.support.oracle import ProjectionCheck, expected_returns
from tests.support.waiting import await_until, wait_until
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration


class Projection:
    """One database and the returns projection's pieces, as the worker wires them."""

    def __init__(self, settings: Settings) -> None:
        upgrade(settings.database)
        self.settings = settings
        self.sessions = make_session_factory(make_engine(settings.database))
        self.returns = ReturnsRepository(self.sessions)
        self.offsets = StreamOffsets(self.sessions)
        self.topic = namespaced(topics.RETURNS, settings.topic_namespace)
        self.write = returns_writer(self.returns, SystemClock())

    def rows(self) -> int:
        with self.sessions() as session:
            return session.scalar(select(func.count()).select_from(ReturnVersion)) or 0

    def stored(self) -> dict[tuple[str, int], int]:
        tps = [(self.topic, p) for p in range(self.settings.partitions)]
        return self.offsets.load(RETURNS, tps)

    async def run_until(
        self,
        done: Callable[[], bool],
        write: Callable[[Batch], Awaitable[None]] | None = None,
        load: committed.LoadOffsets | None = None,
    ) -> None:
        """The projection loop (streams/committed.py) until ``done``, then cancelled."""
        task = asyncio.create_task(
            committed.run(
                self.settings,
                RETURNS,
                [self.topic],
                load or loader(self.offsets, RETURNS),
                write or self.write,
                within_s=0.2,
            )
        )
        try:
            await await_until(
                lambda: _ready(task, done), timeout_s=90, what="the projection caught up"
            )
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _ready(task: asyncio.Task[None], done: Callable[[], bool]) -> bool:
    if task.done():
        task.result()  # a crashed loop fails the test with its error
    return await asyncio.to_thread(done)


def return_values(settings: Settings, n_people: int, version: int) -> list[dict[str, Any]]:
    season = generate_season(
        n_people=n_people, tax_year=2026, seed=11, id_prefix=settings.topic_namespace
    )
    values = list(expected_returns(season).values())
    return [{**v, "version": version, "computed_at": "2027-02-01T09:00:00+05:00"} for v in values]


async def produce(settings: Settings, values: list[dict[str, Any]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, acks="all", **client_options(settings)
    )
    await producer.start()
    try:
        topic = namespaced(topics.RETURNS, settings.topic_namespace)
        for value in values:
            await producer.send(topic, orjson.dumps(value), key=value["pinfl"].encode())
        await producer.flush()
    finally:
        await producer.stop()


async def end_offsets(settings: Settings) -> dict[tuple[str, int], int]:
    """Per partition of returns.v1, the offset after its last committed record: what the
    projection stores once it has read everything. (Not the log's end offset: the registry
    path writes returns.v1 in transactions, and each commit marker takes an offset too.)"""
    topic = namespaced(topics.RETURNS, settings.topic_namespace)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        isolation_level="read_committed",
        enable_auto_commit=False,
        **client_options(settings),
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.partitions)]
        ends = await consumer.end_offsets(tps)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        after_last: dict[tuple[str, int], int] = {}
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                for record in records:
                    after_last[(tp.topic, tp.partition)] = record.offset + 1
        return after_last
    finally:
        await consumer.stop()


def projected(
    settings: Settings, n_people: int
) -> tuple[Projection, list[dict[str, Any]], dict[tuple[str, int], int]]:
    """A projection that has read the first versions of ``n_people``'s returns: it, the
    values and the offsets it stored (the ends of returns.v1)."""
    projection = Projection(settings)
    first = return_values(settings, n_people, version=1)
    asyncio.run(produce(settings, first))
    ends = asyncio.run(end_offsets(settings))
    asyncio.run(projection.run_until(lambda: projection.stored() == ends))
    return projection, first, ends


class FirstOffsets:
    """The projection's writer, noting the first offset a (re)started loop reads from each
    partition: it must be the stored one, never before it (a replay) nor after (a skip)."""

    def __init__(self, projection: Projection) -> None:
        self.projection = projection
        self.seen: dict[tuple[str, int], int] = {}
        self.batch_came = asyncio.Event()

    async def write(self, batch: Batch) -> None:
        self.batch_came.set()
        for record in batch.records:
            self.seen.setdefault((record.topic, record.partition), record.offset)
        await self.projection.write(batch)

    @staticmethod
    def expected(
        ends: dict[tuple[str, int], int], later: dict[tuple[str, int], int]
    ) -> dict[tuple[str, int], int]:
        """Each partition that grew from ``ends`` to ``later`` is read from ``ends``."""
        return {tp: ends.get(tp, 0) for tp in later if later[tp] > ends.get(tp, 0)}


def test_a_restart_resumes_at_the_stored_offsets_and_a_replay_writes_nothing_twice(
    pipeline_settings: Settings,
) -> None:
    settings = pipeline_settings
    projection, first, ends = projected(settings, 40)
    assert projection.rows() == len(first)
    assert projection.stored() == ends  # the offsets are exactly the log's ends

    # A restart: more values arrive; the loop must start each partition at its stored
    # offset, never before it (a replay) nor after it (a skip).
    second = [{**v, "version": 2} for v in first[:15]]
    asyncio.run(produce(settings, second))
    later = asyncio.run(end_offsets(settings))
    firsts = FirstOffsets(projection)
    asyncio.run(projection.run_until(lambda: projection.stored() == later, firsts.write))
    assert firsts.seen == FirstOffsets.expected(ends, later)
    assert projection.rows() == len(first) + len(second)

    # A replay (a stale owner writes a batch the new owner has written already, or the
    # stored offsets are read by a consumer that then re-reads): nothing is written twice
    # and no offset moves back.
    replayed: list[Batch] = []

    async def keep(batch: Batch) -> None:
        replayed.append(batch)
        await projection.write(batch)

    with projection.sessions() as session, session.begin():  # forget one partition's offset
        tp = sorted(later)[0]
        session.execute(
            committed_offsets_table()
            .delete()
            .where(
                committed_offsets_table().c.topic == tp[0],
                committed_offsets_table().c.partition == tp[1],
            )
        )
    asyncio.run(projection.run_until(lambda: projection.stored() == later, keep))
    assert replayed and min(r.offset for b in replayed for r in b.records) == 0  # re-read
    for batch in replayed:  # and the stale copies once more
        asyncio.run(projection.write(batch))
    assert projection.rows() == len(first) + len(second)
    assert projection.stored() == later


def test_a_slow_read_of_the_stored_offsets_does_not_let_the_consumer_start_before_them(
    pipeline_settings: Settings,
) -> None:
    """aiokafka starts fetching a partition it gives out (from the log's start: nothing is
    committed in Kafka) before the listener that seeks it to the stored offset has run
    (aio-libs/aiokafka#738). Here the database read holds the listener until a batch comes
    (which would be the bug) or 3 s pass; no batch may start before the stored offsets."""
    settings = pipeline_settings
    projection, first, ends = projected(settings, 30)
    asyncio.run(produce(settings, [{**v, "version": 2} for v in first[:10]]))
    later = asyncio.run(end_offsets(settings))

    firsts = FirstOffsets(projection)
    stored_load = loader(projection.offsets, RETURNS)

    async def slow_load(tps: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(firsts.batch_came.wait(), timeout=3)
        return await stored_load(tps)

    asyncio.run(projection.run_until(lambda: projection.stored() == later, firsts.write, slow_load))
    assert firsts.seen == FirstOffsets.expected(ends, later)
    assert projection.rows() == len(first) + 10


def committed_offsets_table() -> Any:
    from storage.stream_offsets import StreamOffset

    return StreamOffset.__table__


def test_a_kill_between_writing_rows_and_committing_leaves_neither(
    pipeline_settings: Settings, tmp_path: Path
) -> None:
    """The fault point (PROACTAX_FAULT_POINT, read through Settings) kills the worker
    with SIGKILL after the first batch of returns and its offsets are written, before the
    commit: the database holds neither; the next worker projects every return once."""
    settings = pipeline_settings
    projection = Projection(settings)
    season = generate_season(
        n_people=120, tax_year=2026, seed=7, id_prefix=settings.topic_namespace
    )
    armed = dataclasses.replace(settings, fault_point=RETURNS)
    doomed = WorkerProcess(armed, tmp_path / "worker-armed.log").start()
    asyncio.run(publish(season.events, settings, settings.topic_namespace))
    asyncio.run(close_year(season.tax_year, settings, settings.topic_namespace))
    wait_until(
        lambda: not doomed.alive(),
        timeout_s=180,
        what="the armed worker killed itself at the fault point",
        describe=doomed.log_tail,
    )
    assert f"fault point {RETURNS}: killing this process" in doomed.log_tail(200)
    assert projection.rows() == 0  # the batch's rows went with the transaction
    assert projection.stored() == {}  # and so did its offsets

    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        check = ProjectionCheck(projection.returns, expected_returns(season), season.tax_year)
        wait_until(
            lambda: worker.assert_alive() or check(),
            timeout_s=180,
            what="every return after the crash",
            describe=lambda: f"{check!r}\n{worker.log_tail()}",
        )
        ends = asyncio.run(end_offsets(settings))
        wait_until(
            lambda: projection.stored() == ends,
            timeout_s=60,
            what="the stored offsets reach the ends of returns.v1",
            describe=lambda: f"{projection.stored()} != {ends}",
        )
    finally:
        assert worker.stop() == 0, worker.log_tail()
    # One row per message of returns.v1: nothing written twice, nothing skipped (a version
    # the registry agent re-sent after its own crash is the same (pinfl, version) row).
    with projection.sessions() as session:
        keys = session.execute(select(ReturnVersion.pinfl, ReturnVersion.version)).all()
    assert len(keys) == len(set(keys))
    for pinfl in {k[0] for k in keys}:
        versions = sorted(v for p, v in keys if p == pinfl)
        assert versions == list(range(1, len(versions) + 1))
