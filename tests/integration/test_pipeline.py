"""The first slice end to end: mock registries ► real Kafka ► faust worker ► database.

Runs against SQLite and PostgreSQL (the ``database_url`` fixture is parametrised).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts.topics import DEADLETTER, namespaced, registry_topic
from core.kafka import client_options
from core.settings import Settings
from devtools.registries_mock.publisher import close_year, publish
from devtools.registries_mock.season import generate_season
from storage.database import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.people import PeopleRepository
from storage.returns_repository import ReturnsRepository
from tests.support.committed import committed_versions, version_problems
from tests.support.oracle import ProjectionCheck, expected_returns, repeated_identical_versions
from tests.support.waiting import wait_until
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration

SEASON_TIMEOUT_S = 180


def repository_for(settings: Settings) -> ReturnsRepository:
    upgrade(settings.database)
    return ReturnsRepository(make_session_factory(make_engine(settings.database)))


def test_a_season_crosses_the_broker_into_the_database(
    pipeline_settings: Settings, tmp_path: Path
) -> None:
    settings = pipeline_settings
    season = generate_season(
        n_people=200, tax_year=2026, seed=11, id_prefix=settings.topic_namespace
    )
    repository = repository_for(settings)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        sent = asyncio.run(publish(season.events, settings, settings.topic_namespace))
        assert sent == len(season.events)
        asyncio.run(close_year(season.tax_year, settings, settings.topic_namespace))
        check = ProjectionCheck(repository, expected_returns(season), season.tax_year)
        wait_until(
            lambda: worker.assert_alive() or check(),
            timeout_s=SEASON_TIMEOUT_S,
            what="every return right in the database",
            describe=lambda: f"{check!r}\nworker log:\n{worker.log_tail()}",
        )
    finally:
        assert worker.stop() == 0, worker.log_tail()

    assert repeated_identical_versions(repository, season.taxpayers, season.tax_year) == []
    people = PeopleRepository(make_session_factory(make_engine(settings.database)))
    for person in season.people:  # the population registry is projected too
        row = people.get(person["pinfl"])
        assert row is not None, person["pinfl"]
        assert (row.phone, row.preferred_language, row.region_code) == (
            person["phone"],
            person["preferred_language"],
            person["region_code"],
        )
    for pinfl in season.taxpayers:  # no version lost: numbers run 1..n without gaps
        numbers = [v.version for v in repository.versions(pinfl, season.tax_year)]
        assert numbers == list(range(1, len(numbers) + 1)), pinfl
    # exactly-once on returns.v1 itself, as a read_committed consumer sees it
    assert version_problems(committed_versions(settings)) == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_cutoff_releases_a_year_no_registry_closed(
    pipeline_settings: Settings, tmp_path: Path
) -> None:
    """No period_closed at all: on 2 February 2027 the 2026 returns are computed anyway."""
    settings = dataclasses.replace(pipeline_settings, clock_start="2027-02-02T09:00:00+05:00")
    season = generate_season(
        n_people=30, tax_year=2026, seed=13, id_prefix=settings.topic_namespace
    )
    repository = repository_for(settings)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        asyncio.run(publish(season.events, settings, settings.topic_namespace))
        check = ProjectionCheck(repository, expected_returns(season), season.tax_year)
        wait_until(
            lambda: worker.assert_alive() or check(),
            timeout_s=SEASON_TIMEOUT_S,
            what="returns released by the cut-off",
            describe=lambda: f"{check!r}\n{worker.log_tail()}",
        )
    finally:
        assert worker.stop() == 0, worker.log_tail()


def test_bad_events_become_dead_letters_and_the_partition_keeps_flowing(
    pipeline_settings: Settings, tmp_path: Path
) -> None:
    settings = pipeline_settings
    season = generate_season(n_people=5, tax_year=2026, seed=3, id_prefix=settings.topic_namespace)
    payroll = next(e for e in season.events if e.topic_registry == "payroll")
    conflict = dict(payroll.value, data=dict(payroll.value["data"], gross_income_tiyin=1))
    bad = [
        (payroll.key, b"{not json", "not_json"),
        (payroll.key, json.dumps(dict(payroll.value, pinfl="12345")).encode(), "bad_pinfl"),
        (payroll.key, json.dumps(dict(payroll.value, tax_year=1990)).encode(), "out_of_range"),
        (payroll.key, json.dumps(conflict).encode(), "conflict"),
    ]
    repository = repository_for(settings)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        asyncio.run(publish(season.events, settings, settings.topic_namespace))
        asyncio.run(close_year(season.tax_year, settings, settings.topic_namespace))
        asyncio.run(_send_raw(settings, bad))
        letters = asyncio.run(_read_dead_letters(settings, len(bad), worker))
        # The partition kept flowing: every return of the season is still right.
        check = ProjectionCheck(repository, expected_returns(season), season.tax_year)
        wait_until(
            lambda: worker.assert_alive() or check(),
            timeout_s=SEASON_TIMEOUT_S,
            what="returns right despite bad events",
            describe=lambda: f"{check!r}\n{worker.log_tail()}",
        )
    finally:
        assert worker.stop() == 0, worker.log_tail()

    assert sorted(letter["reason_code"] for letter in letters) == sorted(c for *_, c in bad)
    topic = namespaced(registry_topic("payroll"), settings.topic_namespace)
    for letter in letters:
        assert letter["source_topic"] == topic
        assert letter["reason"] and letter["source_offset"] >= 0
        assert base64.b64decode(letter["raw_base64"]) in {raw for _, raw, _ in bad}


async def _send_raw(settings: Settings, messages: list[tuple[str, bytes, str]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, **client_options(settings), acks="all"
    )
    await producer.start()
    try:
        topic = namespaced(registry_topic("payroll"), settings.topic_namespace)
        for key, raw, _ in messages:
            await producer.send_and_wait(topic, key=key.encode(), value=raw)
    finally:
        await producer.stop()


async def _read_dead_letters(
    settings: Settings, count: int, worker: WorkerProcess
) -> list[dict[str, object]]:
    consumer = AIOKafkaConsumer(
        namespaced(DEADLETTER, settings.topic_namespace),
        bootstrap_servers=settings.bootstrap_servers,
        **client_options(settings),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    letters: list[dict[str, object]] = []
    try:
        deadline = asyncio.get_running_loop().time() + SEASON_TIMEOUT_S
        while len(letters) < count:
            worker.assert_alive()
            assert asyncio.get_running_loop().time() < deadline, (
                f"{len(letters)} of {count} dead letters within {SEASON_TIMEOUT_S}s: "
                f"{letters}\nworker log:\n{worker.log_tail()}"
            )
            batch = await consumer.getmany(timeout_ms=500)
            letters += [json.loads(m.value) for ms in batch.values() for m in ms]
    finally:
        await consumer.stop()
    return letters


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_launcher_created_every_declared_topic(pipeline_settings: Settings) -> None:
    from devtools import broker
    from streams.topology import declared_topics

    listed = broker.list_topics(pipeline_settings)
    wanted = declared_topics(pipeline_settings)
    assert {name: listed.get(name) for name in wanted} == wanted
