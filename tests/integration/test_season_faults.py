"""A national-scale season with faults, end to end (issue 4, acceptance).

(a) 5,000 residents with ``faults=True`` through the real broker and a real worker:
    every taxpayer's projected return equals the one the engine computes from the
    oracle's expected facts (the content fingerprint includes the reproducibility hash
    over the canonical inputs, so equal returns mean the ledger holds exactly the
    expected records), every broken event is on the dead-letter topic with its expected
    reason_code and field, and nothing else is (multisets of (source topic, key,
    reason_code, field, SHA-256 of the raw bytes)).
(b) The same season through the HTTP ingest API (a real ``proactax portal`` and a real
    worker): the same returns, every broken event refused by the API with its expected
    reason_code and field, and the dead-letter topic empty (the API rejects before Kafka).

Both close the year only once the worker has folded every registry event, so each
return is computed once (closing at once makes the release overtake the backlog: every
later event then emits a version, ~10 per taxpayer, and the run takes twice as long).
Wall times of each phase are printed (``pytest -s``) for the issue's time budget.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from contracts.topics import ALL_TOPICS, DEADLETTER, REGISTRIES, namespaced, registry_topic
from contracts.validation import ValidationPolicy
from core.kafka import client_options
from core.settings import Settings
from devtools.registries_mock.http_publisher import post_season
from devtools.registries_mock.oracle import Oracle, load_oracle
from devtools.registries_mock.publisher import close_year, publish
from devtools.registries_mock.season import Season, generate_season
from storage.database import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.returns_repository import ReturnsRepository
from tests.support.oracle import ProjectionCheck, dead_letter_identity, expected_returns
from tests.support.portal import Portal, running_portal
from tests.support.waiting import wait_until
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration

PEOPLE = 5000
TAX_YEAR = 2026
SEED = 4242
SEASON_TIMEOUT_S = 420
# The two runs each take a few minutes on a 2-core machine (see the report).
LONG = pytest.mark.timeout(900)


class Clock:
    """Named wall times of the phases, printed at the end."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.started = self.last = time.monotonic()
        self.laps: list[tuple[str, float]] = []

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.laps.append((name, now - self.last))
        self.last = now

    def report(self, events: int) -> str:
        total = time.monotonic() - self.started
        lines = [f"{self.title}: {total:.1f}s for {events:,} events ({events / total:,.0f}/s)"]
        lines += [f"  {name:<34} {seconds:7.1f}s" for name, seconds in self.laps]
        return "\n".join(lines)


def the_season(settings: Settings, tmp_path: Path) -> tuple[Season, Oracle]:
    """The season, and its oracle as written to and read back from the file."""
    season = generate_season(
        PEOPLE,
        TAX_YEAR,
        SEED,
        id_prefix=settings.topic_namespace,
        faults=True,
        policy=ValidationPolicy.from_settings(settings),
    )
    return season, load_oracle(season.write_oracle(tmp_path / "oracle.json"))


def repository_for(settings: Settings) -> ReturnsRepository:
    upgrade(settings.database)
    return ReturnsRepository(make_session_factory(make_engine(settings.database)))


def registry_partitions(settings: Settings) -> list[TopicPartition]:
    return [
        TopicPartition(namespaced(registry_topic(r), settings.topic_namespace), p)
        for r in REGISTRIES
        for p in range(settings.partitions)
    ]


async def _lag(settings: Settings, everything: bool) -> int:
    """Messages not committed yet by the worker's consumer groups: the registry path's
    (``<app_id>-registry``, exactly-once) on the registry topics, or (everything) also
    what faust's group reads (returns for the projection and the lifecycle, ...).
    A transactionally written partition ends with a commit marker, no message: what
    lies between a committed offset and the end is read (read_committed) and counted."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, **client_options(settings)
    )
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        isolation_level="read_committed",
        enable_auto_commit=False,
        **client_options(settings),
    )
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(f"{settings.app_id}-registry")
        partitions = set(registry_partitions(settings))
        if everything:
            faust_group = await admin.list_consumer_group_offsets(settings.app_id)
            partitions |= set(faust_group)
            committed = {**faust_group, **committed}
        ends = await consumer.end_offsets(list(partitions))
        done = {tp: max(meta.offset, 0) for tp, meta in committed.items()}
        behind = {tp: done.get(tp, 0) for tp, end in ends.items() if end > done.get(tp, 0)}
        if not behind:
            return 0
        consumer.assign(list(behind))
        for tp, offset in behind.items():
            consumer.seek(tp, offset)
        unread = 0
        for _ in range(20):  # until every such partition is read to its end
            fetched = await consumer.getmany(timeout_ms=200)
            unread += sum(len(records) for records in fetched.values())
            positions = {tp: await consumer.position(tp) for tp in behind}
            if all(positions[tp] >= ends[tp] for tp in behind):
                return unread
        return max(unread, 1)
    finally:
        await consumer.stop()
        await admin.close()


def wait_until_consumed(settings: Settings, worker: WorkerProcess, everything: bool) -> None:
    lag: list[int] = []

    def probe() -> bool:
        worker.assert_alive()
        lag[:] = [asyncio.run(_lag(settings, everything))]
        return lag[0] == 0

    wait_until(
        probe,
        timeout_s=SEASON_TIMEOUT_S,
        interval_s=1.0,
        what="the worker through every " + ("message" if everything else "registry event"),
        describe=lambda: f"{lag} messages left\n{worker.log_tail()}",
    )


async def _dead_letters(settings: Settings) -> list[tuple[str, str | None, str, str | None, str]]:
    """Everything on the (namespaced) dead-letter topic, up to its end now."""
    topic = namespaced(DEADLETTER, settings.topic_namespace)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        **client_options(settings),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",  # written in the registry path's transactions
    )
    await consumer.start()
    try:
        spec = next(t for t in ALL_TOPICS if t.name == DEADLETTER)
        partitions = [TopicPartition(topic, p) for p in range(spec.partitions(settings.partitions))]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        got: list[tuple[str, str | None, str, str | None, str]] = []

        async def behind() -> bool:
            return any([await consumer.position(tp) < end for tp, end in ends.items()])

        async with asyncio.timeout(60):
            while await behind():
                batches = await consumer.getmany(*partitions, timeout_ms=500)
                for messages in batches.values():
                    for m in messages:
                        if m.offset < ends[TopicPartition(m.topic, m.partition)]:
                            got.append(
                                dead_letter_identity(m.key, m.value, settings.topic_namespace)
                            )
        return got
    finally:
        await consumer.stop()


def wait_for_returns(
    repository: ReturnsRepository, oracle: Oracle, worker: WorkerProcess
) -> ProjectionCheck:
    check = ProjectionCheck(repository, expected_returns(oracle), oracle.tax_year)
    assert len(check.expected) == len(oracle.taxpayers) > PEOPLE // 2
    wait_until(
        lambda: worker.assert_alive() or check(),
        timeout_s=SEASON_TIMEOUT_S,
        interval_s=2.0,
        what="every taxpayer's return equal to the oracle's",
        describe=lambda: f"{check!r}\nworker log:\n{worker.log_tail()}",
    )
    return check


@LONG
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_faulty_season_through_the_broker_matches_the_oracle(
    pipeline_settings: Settings, tmp_path: Path
) -> None:
    settings = pipeline_settings
    clock = Clock(f"(a) {PEOPLE:,} residents with faults via Kafka")
    season, oracle = the_season(settings, tmp_path)
    clock.lap("generate season + oracle file")
    repository = repository_for(settings)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        sent = asyncio.run(publish(season.events, settings, settings.topic_namespace))
        assert sent == len(season.events)
        clock.lap("publish")
        wait_until_consumed(settings, worker, everything=False)
        clock.lap("worker: every registry event folded")
        asyncio.run(close_year(TAX_YEAR, settings, settings.topic_namespace))
        wait_for_returns(repository, oracle, worker)
        clock.lap("close the year: every return right")
        wait_until_consumed(settings, worker, everything=True)
        clock.lap("worker: every message committed")
        letters = asyncio.run(_dead_letters(settings))
        clock.lap("read dead letters")
    finally:
        stopped = worker.stop()  # asserted below: an error above must not be masked
    assert stopped == 0, worker.log_tail()
    expected = oracle.dead_letter_multiset()
    got = Counter(letters)
    assert got - expected == Counter(), "dead letters nobody expected"
    assert expected - got == Counter(), "expected dead letters missing"
    codes = Counter(code for _, _, code, _, _ in letters)
    assert set(codes) == {r.reason_code for r in oracle.expected_dead_letters} and codes["conflict"]
    # The year was released after the whole season was folded: one version each.
    assert repository.count_versions() == len(oracle.taxpayers)
    print("\n" + clock.report(len(season.events)))
    print(
        f"  {len(oracle.taxpayers):,} returns in {repository.count_versions():,} versions; "
        f"{len(letters):,} dead letters: {dict(codes)}"
    )


# --- (b) through the HTTP ingest API ------------------------------------------------------


@pytest.fixture
def portal(pipeline_settings: Settings, tmp_path: Path) -> Iterator[Portal]:
    with running_portal(
        pipeline_settings, tmp_path / "portal.log", "season with faults"
    ) as running:
        yield running


@LONG
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_same_season_through_the_http_api_gives_the_same_returns(
    portal: Portal, tmp_path: Path
) -> None:
    settings = portal.settings
    clock = Clock(f"(b) {PEOPLE:,} residents with faults via the HTTP API")
    season, oracle = the_season(settings, tmp_path)
    clock.lap("generate season + oracle file")
    repository = repository_for(settings)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        outcome = asyncio.run(post_season(season.events, portal.base_url, portal.tokens))
        clock.lap("post to the API")
        wait_until_consumed(settings, worker, everything=False)
        clock.lap("worker: every registry event folded")
        asyncio.run(close_year(TAX_YEAR, settings, settings.topic_namespace))
        wait_for_returns(repository, oracle, worker)
        clock.lap("close the year: every return right")
        wait_until_consumed(settings, worker, everything=True)
        clock.lap("worker: every message committed")
        letters = asyncio.run(_dead_letters(settings))
    finally:
        stopped = worker.stop()  # asserted below: an error above must not be masked
    assert stopped == 0, worker.log_tail()
    refused = Counter(
        (registry_topic(event.topic_registry), event.key, r.reason_code, r.field, event.payload)
        for event, r in outcome.rejections
    )
    expected = Counter(
        (registry_topic(e.topic_registry), e.key, e.fault.reason_code, e.fault.field, e.payload)
        for e in season.events
        if e.fault is not None
    )
    assert refused - expected == Counter(), "events refused that should have been accepted"
    assert expected - refused == Counter(), "broken events the API accepted"
    assert sum(expected.values()) == len(oracle.expected_dead_letters)
    valid = sum(e.fault is None for e in season.events)
    assert outcome.accepted + outcome.duplicates == valid
    assert outcome.duplicates == valid - len({e.payload for e in season.events if not e.fault})
    assert letters == [], f"{len(letters)} dead letters: the API should have refused them"
    assert repository.count_versions() == len(oracle.taxpayers)
    print("\n" + clock.report(len(season.events)))
    print(
        f"  {len(oracle.taxpayers):,} returns in {repository.count_versions():,} versions; "
        f"the API accepted {outcome.accepted:,}, "
        f"{outcome.duplicates:,} duplicates, refused {len(outcome.rejections):,}"
    )
