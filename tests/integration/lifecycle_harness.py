"""The lifecycle worker through real Kafka and a real database, with the test standing in
for the notifier (notifications.v1), the bot and the portal (lifecycle.services) and the
registries (events, disputes.responses.v1). Shared by test_lifecycle*.py."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from agents.returns_builder import return_id
from contracts import topics
from contracts.topics import namespaced
from core.clock import TASHKENT, write_clock_file
from core.kafka import client_options
from core.settings import Settings
from devtools.registries_mock.publisher import publish
from devtools.registries_mock.season import Event
from lifecycle import ids
from lifecycle.publisher import KafkaDecisionPublisher
from lifecycle.services import LifecycleService
from storage.database import make_engine, make_session_factory
from storage.lifecycle.repository import LifecycleRepository
from storage.migrate import upgrade
from tests.support.waiting import wait_until
from tests.support.worker import WorkerProcess

YEAR = 2026
RENT = 100_000_000  # 1 000 000 soum a month from an individual tenant
TAX = 12 * RENT * 12 // 100  # 144 000 000 tiyin
WAIT_S = 60


def event(
    registry: str, pinfl: str, record_id: str, revision: int, data: dict, tax_year: int = YEAR
) -> Event:
    return Event(
        registry,
        pinfl,
        {
            "event_id": f"{registry}-{record_id}-r{revision}",
            "registry": registry,
            "schema_version": 1,
            "record_id": record_id,
            "revision": revision,
            "action": "upsert",
            "occurred_at": "2027-01-10T10:00:00+05:00",
            "pinfl": pinfl,
            "tax_year": tax_year,
            "data": data,
        },
    )


def lease(
    pinfl: str,
    name: str,
    number: int,
    tenant: str,
    monthly: int = RENT,
    revision: int = 1,
    start: str = "2026-01-01",
    end: str = "2026-12-31",
) -> Event:
    """A lease to an individual tenant (nothing withheld): the landlord declares and pays."""
    return event(
        "rental",
        pinfl,
        f"REN-{name}",
        revision,
        {
            "contract_number": f"N-2026-{name}",
            "tenant_kind": "individual",
            "tenant_id": tenant,
            "cadastral_number": f"10:08:02:02:01:00{number:02d}",
            "start_date": start,
            "end_date": end,
            "monthly_rent_tiyin": monthly,
            "pit_withheld_tiyin": 0,
        },
    )


def salary(pinfl: str, name: str, withheld: int = 95_200_000, employer: str = "201234567") -> Event:
    """8 000 000 soum in January; 12 % withheld (INPS offset included) by default."""
    return event(
        "payroll",
        pinfl,
        f"PAY-{name}",
        1,
        {
            "employer_tin": employer,
            "month": 1,
            "gross_income_tiyin": 800_000_000,
            "exempt_at_source_tiyin": 0,
            "pit_withheld_tiyin": withheld,
            "inps_offset_tiyin": 800_000,
        },
    )


def tuition(pinfl: str, name: str, amount: int = 100_000_000, revision: int = 1) -> Event:
    return event(
        "deduction",
        pinfl,
        f"DED-{name}",
        revision,
        {
            "kind": "tuition",
            "provider_tin": "202345678",
            "beneficiary_pinfl": pinfl,
            "paid_on": "2026-09-01",
            "amount_tiyin": amount,
        },
    )


@dataclasses.dataclass
class Harness:
    settings: Settings
    clock_path: Path
    repo: LifecycleRepository
    service: LifecycleService
    worker: WorkerProcess
    people: Mapping[str, str]  # a letter per taxpayer -> PINFL

    def at(self, day: str) -> None:
        write_clock_file(self.clock_path, dt.datetime.fromisoformat(f"{day}T09:00:00+05:00"))

    def send(self, topic: str, key: str, value: Any) -> None:
        asyncio.run(
            _send(self.settings, namespaced(topic, self.settings.topic_namespace), key, value)
        )

    def publish(self, *events: Event) -> None:
        asyncio.run(publish(events, self.settings, self.settings.topic_namespace))

    def wait(self, probe: Any, what: str, timeout_s: float = WAIT_S) -> Any:
        return wait_until(
            lambda: self.worker.assert_alive() or probe(),
            timeout_s=timeout_s,
            what=what,
            describe=lambda: f"states {self.states()}\n{self.worker.log_tail(30)}",
        )

    def case(self, name: str) -> Any:
        return self.repo.case(self.people[name], YEAR)

    def state(self, name: str) -> str | None:
        case = self.case(name)
        return None if case is None else str(case.state)

    def states(self) -> dict[str, str | None]:
        return {name: self.state(name) for name in self.people}

    def wait_state(self, name: str, state: str, version: int | None = None) -> Any:
        def probe() -> Any:
            case = self.case(name)
            ok = case is not None and str(case.state) == state
            return case if ok and (version is None or case.version.number == version) else None

        return self.wait(probe, f"{name} {state}" + (f" v{version}" if version else ""))

    def ack(
        self, name: str, kind: str = "first_notice", version: int = 1, on: str = "2027-02-02"
    ) -> None:
        """The notifier's word that a notice reached the taxpayer (notifications.v1)."""
        pinfl = self.people[name]
        notice_id = ids.notice_id(kind, return_id(pinfl, YEAR), version)
        self.send(
            topics.NOTIFICATIONS,
            pinfl,
            {
                "delivery_id": f"d-{name}-{version}",
                "notice_id": notice_id,
                "kind": kind,
                "pinfl": pinfl,
                "tax_year": YEAR,
                "version": version,
                "channel": "telegram",
                "status": "sent",
                "attempt": 1,
                "occurred_at": f"{on}T09:00:03+05:00",
                "detail": "",
            },
        )

    def decide(self, name: str, choice: str, version: int = 1, **kwargs: Any) -> Any:
        async def go() -> Any:
            async with KafkaDecisionPublisher(self.settings) as publisher:
                self.service.publisher = publisher
                return await self.service.submit_decision(
                    self.people[name],
                    YEAR,
                    version,
                    choice,
                    kwargs.pop("channel", "telegram"),
                    **kwargs,
                )

        return asyncio.run(go())

    def raw_decision(self, name: str, decision_id: str, choice: str = "agree", **extra: Any) -> Any:
        """A decision straight onto decisions.v1 (another channel, a race): the worker's
        stored result."""
        pinfl = self.people[name]
        value = {
            "decision_id": decision_id,
            "return_id": return_id(pinfl, YEAR),
            "pinfl": pinfl,
            "tax_year": YEAR,
            "version": 1,
            "decision": choice,
            "channel": "portal",
            "decided_at": "2027-02-02T10:00:00+05:00",
            **extra,
        }
        self.send(topics.DECISIONS, pinfl, value)
        return self.wait(
            lambda: self.service.decision_result(pinfl, decision_id), f"{name}'s decision result"
        )

    def notices(self, name: str) -> list[dict[str, Any]]:
        rid = return_id(self.people[name], YEAR)
        return [i.value for i in self.repo.outbox(rid, topics.NOTICES)]

    def kinds(self, name: str) -> list[str]:
        return [n["kind"] for n in self.notices(name)]


async def _send(settings: Settings, topic: str, key: str, value: Any) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, **client_options(settings), acks="all"
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, key=key.encode(), value=json.dumps(value).encode())
    finally:
        await producer.stop()


def read_all(settings: Settings, topic: str) -> list[tuple[bytes, dict[str, Any]]]:
    return asyncio.run(_read_all(settings, topic))


async def _read_all(settings: Settings, topic: str) -> list[tuple[bytes, dict[str, Any]]]:
    consumer = AIOKafkaConsumer(
        namespaced(topic, settings.topic_namespace),
        bootstrap_servers=settings.bootstrap_servers,
        **client_options(settings),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    seen: list[tuple[bytes, dict[str, Any]]] = []
    try:
        idle = 0
        while idle < 3:
            batch = await consumer.getmany(timeout_ms=500)
            fresh = [(m.key, json.loads(m.value)) for ms in batch.values() for m in ms]
            idle = 0 if fresh else idle + 1
            seen += fresh
    finally:
        await consumer.stop()
    return seen


@contextlib.contextmanager
def running_lifecycle(
    pipeline_settings: Settings,
    tmp_path: Path,
    people: Mapping[str, str],
    stub_overrides: Mapping[str, str] | None = None,
) -> Iterator[Harness]:
    """A worker on the clock file (2 February 2027, 09:00) with fast timers."""
    clock_path = tmp_path / "clock"
    write_clock_file(clock_path, dt.datetime(2027, 2, 2, 9, tzinfo=TASHKENT))
    settings = dataclasses.replace(
        pipeline_settings,
        clock_file=str(clock_path),
        lifecycle_timer_interval_s=0.5,
        payment_reconcile_interval_s=0.5,
        payment_stub_delay_s=8.0,
        payment_stub_overrides=",".join(
            f"{people[name]}={mode}" for name, mode in (stub_overrides or {}).items()
        ),
    )
    upgrade(settings.database)
    sessions = make_session_factory(make_engine(settings.database))
    worker = WorkerProcess(settings, tmp_path / "worker-1.log").start()
    h = Harness(
        settings,
        clock_path,
        LifecycleRepository(sessions),
        LifecycleService.from_settings(settings, LifecycleRepository(sessions)),
        worker,
        people,
    )
    try:
        yield h
    finally:
        assert h.worker.stop() == 0, h.worker.log_tail()
