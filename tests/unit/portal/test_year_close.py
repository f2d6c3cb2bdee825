"""``POST /api/v1/registries/{registry}/period-closed``: the year close over HTTP, validated
as the stream validates ``registry.period_closed.v1``, published keyed by the registry, and
a second close of a closed year answered 200 ``already_closed`` without publishing."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from storage.database import make_engine, make_session_factory
from storage.feed_health import FeedClosure
from tests.unit.portal.conftest import NAMESPACE, FakeProducer, bearer

URL = "/api/v1/registries/payroll/period-closed"


def close(**changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "event_id": "closed-payroll-2026",
        "registry": "payroll",
        "schema_version": 1,
        "tax_year": 2026,
        "closed_at": "2027-01-15T09:00:00+05:00",
    }
    value.update(changes)
    return value


async def post(client: httpx.AsyncClient, token: str, body: Any, url: str = URL) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.post(url, content=content, headers=bearer(token))


async def test_a_close_is_published_keyed_by_the_registry(
    client: httpx.AsyncClient, payroll_key: str, producer: FakeProducer
) -> None:
    response = await post(client, payroll_key, close())
    assert response.status_code == 202
    assert response.json() == {
        "status": "closed",
        "registry": "payroll",
        "tax_year": 2026,
        "event_id": "closed-payroll-2026",
        "closed_at": "2027-01-15T09:00:00+05:00",
    }
    assert [(t, k, json.loads(v)) for t, k, v in producer.sent] == [
        (f"{NAMESPACE}.registry.period_closed.v1", b"payroll", close())
    ]


async def test_a_second_close_is_200_already_closed_and_not_published(
    client: httpx.AsyncClient, payroll_key: str, producer: FakeProducer
) -> None:
    assert (await post(client, payroll_key, close())).status_code == 202
    again = await post(client, payroll_key, close(event_id="closed-again"))
    assert again.status_code == 200
    assert again.json()["status"] == "already_closed"
    assert again.json()["event_id"] == "closed-payroll-2026"  # the close that counts
    assert len(producer.sent) == 1
    other_year = await post(client, payroll_key, close(event_id="c-2025", tax_year=2025))
    assert other_year.status_code == 202 and len(producer.sent) == 2


async def test_a_close_seen_on_the_topic_counts_as_closed(
    client: httpx.AsyncClient, payroll_key: str, producer: FakeProducer, settings: Settings
) -> None:
    sessions: sessionmaker[Session] = make_session_factory(make_engine(settings.database))
    with sessions() as session:
        session.add(
            FeedClosure(
                registry_name="payroll",
                tax_year=2026,
                closed_at="2027-01-10T10:00:00+05:00",
                received_at=dt.datetime(2027, 1, 10, 5, tzinfo=dt.UTC),
            )
        )
        session.commit()
    response = await post(client, payroll_key, close())
    assert response.status_code == 200
    assert response.json()["event_id"] is None
    assert response.json()["closed_at"] == "2027-01-10T10:00:00+05:00"
    assert producer.sent == []


async def test_a_failed_send_leaves_the_year_open_and_a_retry_closes_it(
    client: httpx.AsyncClient, payroll_key: str, producer: FakeProducer
) -> None:
    producer.fail_next = 1
    assert (await post(client, payroll_key, close())).status_code == 503
    assert (await post(client, payroll_key, close())).status_code == 202
    assert len(producer.sent) == 1


async def test_an_invalid_close_is_422_naming_the_field(
    client: httpx.AsyncClient, payroll_key: str, producer: FakeProducer
) -> None:
    cases = [
        (close(tax_year=2020), "out_of_range", "tax_year"),
        (close(registry="rental"), "schema", "registry"),
        (close(closed_at="yesterday"), "schema", "closed_at"),
        ({k: v for k, v in close().items() if k != "event_id"}, "schema", "event_id"),
        (close(extra=1), "schema", "extra"),
    ]
    for body, code, field in cases:
        response = await post(client, payroll_key, body)
        assert response.status_code == 422, body
        (problem,) = response.json()["events"]
        assert (problem["reason_code"], problem["field"]) == (code, field), problem
    assert (await post(client, payroll_key, b"{not json")).status_code == 422
    assert producer.sent == []


async def test_another_registrys_key_is_403_and_an_unknown_registry_404(
    client: httpx.AsyncClient, payroll_key: str
) -> None:
    rental = await post(
        client, payroll_key, close(registry="rental"), URL.replace("payroll", "rental")
    )
    assert rental.status_code == 403
    nothing = await post(client, payroll_key, close(), URL.replace("payroll", "period_closed"))
    assert nothing.status_code == 404
    assert (await client.post(URL, content=b"{}")).status_code == 401
