"""Fixtures of the portal's unit tests: the real app, a real SQLite file (migrated), a
fixed clock and a fake Kafka producer (the only fake: no broker in the unit tier)."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from core.clock import FixedClock
from core.settings import Settings
from portal.app import create_app
from portal.services.api_keys import ApiKeyService
from storage.api_keys import AcceptedEventRepository, ApiKeyRepository
from storage.database import make_engine, make_session_factory
from storage.migrate import upgrade

NAMESPACE = "unit"
PINFL = "31503851230014"
OTHER_PINFL = "41203905670018"


class FakeProducer:
    """Stands in for aiokafka's producer: records sends; acks at once unless told to fail
    or to hold the acknowledgements until ``release()``."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.fail_next = 0
        self.hold = False
        self._held: list[asyncio.Future[Any]] = []

    async def send(self, topic: str, value: Any = None, key: Any = None) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.fail_next:
            self.fail_next -= 1
            future.set_exception(ConnectionError("broker not available"))
            return future
        self.sent.append((topic, key, value))
        if self.hold:
            self._held.append(future)
        else:
            future.set_result(None)
        return future

    def release(self) -> None:
        for future in self._held:
            future.set_result(None)
        self._held.clear()


def payroll_event(event_id: str = "pay-1", **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": event_id,
        "registry": "payroll",
        "schema_version": 1,
        "record_id": f"rec-{event_id}",
        "revision": 1,
        "action": "upsert",
        "occurred_at": "2026-04-05T10:02:11+05:00",
        "pinfl": PINFL,
        "tax_year": 2026,
        "data": {
            "employer_tin": "301234567",
            "month": 3,
            "gross_income_tiyin": 850_000_000,
            "exempt_at_source_tiyin": 0,
            "pit_withheld_tiyin": 102_000_000,
            "inps_offset_tiyin": 850_000,
        },
    }
    for name, value in changes.items():
        if name == "data" and value is not None:
            event["data"] = dict(copy.deepcopy(event["data"]), **value)
        else:
            event[name] = value
    return event


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = Settings.from_env(
        {
            "PROACTAX_DEVELOPMENT": "1",
            "PROACTAX_RUN_DIR": str(tmp_path / "run"),
            "PROACTAX_DATABASE_URL": f"sqlite:///{tmp_path / 'portal.db'}",
            "PROACTAX_TOPIC_NAMESPACE": NAMESPACE,
            "PROACTAX_TAX_YEAR_MIN": "2024",
            "PROACTAX_TAX_YEAR_MAX": "2027",
        }
    )
    upgrade(settings.database)
    return settings


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2027, 2, 10, 9, 0, tzinfo=UTC))


@pytest.fixture
def producer() -> FakeProducer:
    return FakeProducer()


@pytest.fixture
def app(settings: Settings, producer: FakeProducer, clock: FixedClock) -> FastAPI:
    return create_app(settings, producer=producer, clock=clock)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client of the app in process, with the app's lifespan running."""
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://portal.test"
        ) as client,
    ):
        yield client


@pytest.fixture
def keys(settings: Settings, clock: FixedClock) -> ApiKeyService:
    """The same service the app and the CLI use, on the same database."""
    sessions = make_session_factory(make_engine(settings.database))
    return ApiKeyService(ApiKeyRepository(sessions), clock)


@pytest.fixture
def accepted_events(settings: Settings) -> AcceptedEventRepository:
    return AcceptedEventRepository(make_session_factory(make_engine(settings.database)))


@pytest.fixture
def payroll_key(keys: ApiKeyService) -> str:
    return keys.create("payroll", label="payroll gateway").token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
