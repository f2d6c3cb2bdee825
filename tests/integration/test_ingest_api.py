"""The HTTP ingest API as a real process (``proactax portal``) on the real broker and a real
database (SQLite and PostgreSQL): events posted over HTTP are on the registry topics, keyed
by PINFL, exactly once, and a real worker turns them into projected returns."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from contracts.registry_events import canonical_json
from contracts.topics import PERIOD_CLOSED, namespaced, registry_topic
from core.kafka import client_options
from core.settings import Settings
from devtools.registries_mock.season import generate_season
from portal.ingest_client import IngestClientError, post_events
from storage.database import make_engine, make_session_factory
from storage.returns_repository import ReturnsRepository
from tests.support.oracle import ProjectionCheck, expected_returns
from tests.support.portal import Portal, running_portal
from tests.support.waiting import wait_until
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration

READ_TIMEOUT_S = 60
SEASON_TIMEOUT_S = 180
INCOME_REGISTRIES = ("payroll", "rental", "property_sale", "dividend", "deduction")


@pytest.fixture
def portal(pipeline_settings: Settings, tmp_path: Path) -> Iterator[Portal]:
    with running_portal(pipeline_settings, tmp_path / "portal.log", "integration test") as running:
        yield running


async def _end_offsets(settings: Settings, registry: str) -> int:
    """How many messages the registry's topic holds (all partitions)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        isolation_level="read_committed",
        **client_options(settings),
    )
    await consumer.start()
    try:
        topic = namespaced(registry_topic(registry), settings.topic_namespace)
        partitions = [TopicPartition(topic, p) for p in range(settings.partitions)]
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


async def _read(settings: Settings, registry: str, count: int) -> list[tuple[bytes, bytes]]:
    """The first ``count`` messages of the registry's topic, or fail at the deadline."""
    return await _read_topic(settings, registry_topic(registry), count)


async def _read_topic(settings: Settings, name: str, count: int) -> list[tuple[bytes, bytes]]:
    """The first ``count`` messages of a topic, or fail at the deadline."""
    topic = namespaced(name, settings.topic_namespace)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.bootstrap_servers,
        **client_options(settings),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    got: list[tuple[bytes, bytes]] = []
    try:
        async with asyncio.timeout(READ_TIMEOUT_S):
            while len(got) < count:
                batches = await consumer.getmany(timeout_ms=500)
                got += [(m.key, m.value) for ms in batches.values() for m in ms]
    except TimeoutError:
        raise AssertionError(f"read {len(got)} of {count} messages from {topic}") from None
    finally:
        await consumer.stop()
    return got


def _payroll(namespace: str, n: int, pinfl: str) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"{namespace}-pay-{i}",
            "registry": "payroll",
            "schema_version": 1,
            "record_id": f"{namespace}-rec-{i}",
            "revision": 1,
            "action": "upsert",
            "occurred_at": "2026-04-05T10:02:11+05:00",
            "pinfl": pinfl,
            "tax_year": 2026,
            "data": {
                "employer_tin": "301234567",
                "month": i % 12 + 1,
                "gross_income_tiyin": 500_000_000,
                "exempt_at_source_tiyin": 0,
                "pit_withheld_tiyin": 60_000_000,
                "inps_offset_tiyin": 500_000,
            },
        }
        for i in range(n)
    ]


def test_posted_events_are_on_the_topic_once_keyed_by_pinfl(portal: Portal) -> None:
    settings = portal.settings
    pinfl = "31503851230014"
    events = _payroll(settings.topic_namespace, 12, pinfl)

    async def scenario() -> None:
        result = await post_events(
            portal.base_url, "payroll", portal.tokens["payroll"], events, batch_size=5
        )
        assert result.accepted == [e["event_id"] for e in events]
        messages = await _read(settings, "payroll", len(events))
        assert sorted(messages) == sorted((pinfl.encode(), canonical_json(e)) for e in events)

        again = await post_events(portal.base_url, "payroll", portal.tokens["payroll"], events)
        assert again.accepted == [] and len(again.duplicates) == len(events)
        bad = [dict(events[0], event_id="new-one"), dict(events[1], pinfl="123")]
        rejected = await post_events(
            portal.base_url, "payroll", portal.tokens["payroll"], bad, batch_size=2
        )
        assert [(r.index, r.reason_code) for r in rejected.rejected] == [(1, "bad_pinfl")]
        assert rejected.accepted == ["new-one"]
        assert await _end_offsets(settings, "payroll") == len(events) + 1  # nothing twice

        with pytest.raises(IngestClientError) as caught:
            await post_events(portal.base_url, "payroll", portal.tokens["rental"], events)
        assert caught.value.status == 403
        async with httpx.AsyncClient(base_url=portal.base_url) as client:
            response = await client.post(
                "/api/v1/registries/payroll/events", json=events[0], headers={"X-API-Key": "x"}
            )
            assert response.status_code == 401
            served = (await client.get("/openapi.json")).json()
            assert "/api/v1/registries/{registry}/events" in served["paths"]

    asyncio.run(scenario())


def test_http_refuses_a_reused_revision_and_closes_the_year(portal: Portal) -> None:
    """Issue 17 items 1 and 2 on the real portal and broker: a new event_id at a revision
    already accepted with other content is 409 naming the record and revision (nothing
    published); the year close is on registry.period_closed.v1 keyed by the registry, and a
    second close is 200 already_closed with nothing published."""
    settings = portal.settings
    (event,) = _payroll(f"{settings.topic_namespace}-rev", 1, "31503851230014")
    reuse = dict(event, event_id=event["event_id"] + "-again", data=dict(event["data"], month=7))
    close = {
        "event_id": "closed-payroll-2026",
        "registry": "payroll",
        "schema_version": 1,
        "tax_year": 2026,
        "closed_at": "2027-01-15T09:00:00+05:00",
    }
    key = {"Authorization": f"Bearer {portal.tokens['payroll']}"}

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=portal.base_url, headers=key) as client:
            events_url = "/api/v1/registries/payroll/events"
            assert (await client.post(events_url, json=event)).status_code == 202
            refused = await client.post(events_url, json=reuse)
            assert refused.status_code == 409, refused.text
            (problem,) = refused.json()["events"]
            assert problem["field"] == "revision"
            assert f"Revision 1 of record {event['record_id']!r}" in problem["reason"]
            assert await _end_offsets(settings, "payroll") == 1

            closes_url = "/api/v1/registries/payroll/period-closed"
            first = await client.post(closes_url, json=close)
            assert first.status_code == 202 and first.json()["status"] == "closed", first.text
            ((k, v),) = await _read_topic(settings, PERIOD_CLOSED, 1)
            assert (k, json.loads(v)) == (b"payroll", close)
            second = await client.post(closes_url, json=dict(close, event_id="closed-twice"))
            assert second.status_code == 200, second.text
            assert second.json()["status"] == "already_closed"
            assert second.json()["event_id"] == "closed-payroll-2026"
            bad_year = await client.post(closes_url, json=dict(close, tax_year=2020))
            assert bad_year.status_code == 422
            assert bad_year.json()["events"][0]["field"] == "tax_year"
        assert len(await _read_topic(settings, PERIOD_CLOSED, 1)) == 1

    asyncio.run(scenario())


async def _close_year(settings: Settings, tax_year: int) -> None:
    """Every income registry says it has published the year (CONTRACT.md watermark)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, **client_options(settings), acks="all"
    )
    await producer.start()
    try:
        for registry in INCOME_REGISTRIES:
            value = {
                "event_id": f"closed-{registry}-{tax_year}",
                "registry": registry,
                "schema_version": 1,
                "tax_year": tax_year,
                "closed_at": f"{tax_year + 1}-01-15T09:00:00+05:00",
            }
            await producer.send_and_wait(
                namespaced(PERIOD_CLOSED, settings.topic_namespace),
                key=registry.encode(),
                value=json.dumps(value).encode(),
            )
    finally:
        await producer.stop()


def test_a_season_posted_over_http_ends_up_in_the_returns(portal: Portal, tmp_path: Path) -> None:
    settings = portal.settings
    season = generate_season(n_people=25, tax_year=2026, seed=5, id_prefix=settings.topic_namespace)
    by_registry: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in season.events:
        by_registry[event.topic_registry].append(event.value)
    repository = ReturnsRepository(make_session_factory(make_engine(settings.database)))
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:

        async def send() -> None:
            for registry, events in by_registry.items():
                result = await post_events(
                    portal.base_url, registry, portal.tokens[registry], events, batch_size=40
                )
                assert result.rejected == [], result.rejected
                assert len(result.accepted) + len(result.duplicates) == len(events)
            await _close_year(settings, season.tax_year)

        asyncio.run(send())
        someone = season.taxpayers[0]
        wait_until(
            lambda: worker.assert_alive() or repository.latest(someone, season.tax_year),
            timeout_s=SEASON_TIMEOUT_S,
            what="a return for an event posted over HTTP",
            describe=worker.log_tail,
        )
        check = ProjectionCheck(repository, expected_returns(season), season.tax_year)
        wait_until(
            lambda: worker.assert_alive() or check(),
            timeout_s=SEASON_TIMEOUT_S,
            what="every return right in the database",
            describe=lambda: f"{check!r}\nworker log:\n{worker.log_tail()}",
        )
    finally:
        assert worker.stop() == 0, worker.log_tail()
