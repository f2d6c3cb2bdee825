"""Ingest API limits (issue 14, Low): a body cap far below a full batch of the largest
events, a request rate and requests in flight per API key answered with 429 and
Retry-After, and API keys that expire by default."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.clock import FixedClock
from core.settings import Settings
from portal.app import create_app
from portal.services.api_keys import ApiKeyService
from portal.services.ingest import MAX_BODY_BYTES
from portal.services.ingest_limits import IngestLimiter
from storage.migrate import upgrade
from tests.support.waiting import await_until
from tests.unit.portal.conftest import FakeProducer, bearer, payroll_event

URL = "/api/v1/registries/payroll/events"


def limited(tmp_path: Path, **env: str) -> Settings:
    settings = Settings.from_env(
        {
            "PROACTAX_DEVELOPMENT": "1",
            "PROACTAX_RUN_DIR": str(tmp_path / "run"),
            "PROACTAX_DATABASE_URL": f"sqlite:///{tmp_path / 'limits.db'}",
            **{f"PROACTAX_{k.upper()}": v for k, v in env.items()},
        }
    )
    upgrade(settings.database)
    return settings


@pytest.fixture
async def portal(
    request: pytest.FixtureRequest, tmp_path: Path, producer: FakeProducer, clock: FixedClock
) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    app = create_app(
        limited(tmp_path, **getattr(request, "param", {})), producer=producer, clock=clock
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        yield app, client


async def post(client: httpx.AsyncClient, token: str, body: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.post(URL, content=content, headers=bearer(token))


async def test_the_body_cap_is_far_below_a_full_batch_of_the_largest_events(
    portal: tuple[Any, httpx.AsyncClient],
) -> None:
    app, client = portal
    cap = app.state.services.ingest.max_body_bytes
    assert cap == 4 * 1024 * 1024 < MAX_BODY_BYTES
    token = app.state.services.api_keys.create("payroll").token
    response = await post(client, token, b"[" + b" " * cap + b"]")
    assert response.status_code == 413 and response.json()["error"] == "body_too_large"
    assert (await post(client, token, [payroll_event("fits")])).status_code == 202


@pytest.mark.parametrize(
    "portal", [{"ingest_key_rate_per_s": "0.01", "ingest_key_burst": "3"}], indirect=True
)
async def test_a_key_over_its_rate_gets_429_with_retry_after(
    portal: tuple[Any, httpx.AsyncClient],
) -> None:
    app, client = portal
    token = app.state.services.api_keys.create("payroll").token
    other = app.state.services.api_keys.create("payroll").token
    statuses = [(await post(client, token, [payroll_event(f"e{i}")])).status_code for i in range(3)]
    assert statuses == [202, 202, 202]  # the burst
    refused = await post(client, token, [payroll_event("e3")])
    assert refused.status_code == 429 and refused.json()["error"] == "too_many_requests"
    assert 1 <= int(refused.headers["Retry-After"]) <= 100
    assert (await post(client, other, [payroll_event("o1")])).status_code == 202  # per key


@pytest.mark.parametrize("portal", [{"ingest_key_concurrency": "1"}], indirect=True)
async def test_a_key_with_too_many_requests_in_flight_gets_429(
    portal: tuple[Any, httpx.AsyncClient], producer: FakeProducer
) -> None:
    app, client = portal
    token = app.state.services.api_keys.create("payroll").token
    producer.hold = True  # the first request waits for the broker's acknowledgement
    first = asyncio.create_task(post(client, token, [payroll_event("slow")]))

    async def in_flight() -> bool:
        return bool(producer.sent)

    await await_until(in_flight, timeout_s=10, interval_s=0.01, what="the first request in flight")
    second = await post(client, token, [payroll_event("next")])
    assert second.status_code == 429 and second.headers["Retry-After"] == "1"
    producer.hold = False
    producer.release()
    assert (await asyncio.wait_for(first, 10)).status_code == 202
    assert (await post(client, token, [payroll_event("next")])).status_code == 202


def test_the_limiter_refills_at_its_rate() -> None:
    now = [100.0]
    limiter = IngestLimiter(rate_per_s=2.0, burst=2, concurrency=10, clock=lambda: now[0])
    assert limiter.acquire("k") is None and limiter.acquire("k") is None
    assert limiter.acquire("k") == 1  # over the burst: wait for the next slot
    now[0] += 0.5
    assert limiter.acquire("k") is None
    for _ in range(3):
        limiter.release("k")
    slow = IngestLimiter(rate_per_s=0.1, burst=1, concurrency=1, clock=lambda: now[0])
    assert slow.acquire("k") is None
    assert slow.acquire("k") == 1  # in flight: concurrency first
    slow.release("k")
    assert slow.acquire("k") == 10  # then the rate: 10 s to the next slot


async def test_keys_expire_by_default(
    portal: tuple[Any, httpx.AsyncClient], clock: FixedClock
) -> None:
    app, _ = portal
    issued = app.state.services.api_keys.create("payroll")
    assert issued.info.expires_at == clock.now() + timedelta(days=365)
    keys: ApiKeyService = app.state.services.api_keys
    assert keys.create("payroll", expires_in=timedelta(days=7)).info.expires_at == (
        clock.now() + timedelta(days=7)
    )


@pytest.mark.parametrize(
    "portal", [{"ingest_key_rate_per_s": "2", "ingest_key_burst": "1"}], indirect=True
)
async def test_the_ingest_client_waits_out_a_429(portal: tuple[Any, httpx.AsyncClient]) -> None:
    from portal.ingest_client import post_events

    app, client = portal
    token = app.state.services.api_keys.create("payroll").token
    events = [payroll_event(f"c{i}") for i in range(3)]
    result = await post_events("http://t", "payroll", token, events, batch_size=1, client=client)
    assert result.accepted == ["c0", "c1", "c2"]
