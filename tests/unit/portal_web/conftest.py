"""Fixtures of the web pages' unit tests: the real app on a migrated SQLite file, a fixed
clock, a recording Kafka producer (the only fake: no broker in the unit tier), and a
season seeded through the real lifecycle machine (what the worker would have done)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.clock import TASHKENT, FixedClock, write_clock_file
from core.settings import Settings
from lifecycle.config import LifecycleConfig
from lifecycle.machine import Machine
from portal.app import create_app
from portal.web.security import hash_password
from storage.database import make_engine, make_session_factory
from storage.lifecycle.repository import LifecycleRepository
from storage.migrate import upgrade
from storage.people import PeopleRepository, PersonUpdate
from storage.portal.staff import StaffRepository
from storage.returns_repository import ReturnsRepository
from tax import load_parameters

YEAR = 2026
NOW = dt.datetime(2027, 2, 10, 10, 0, tzinfo=TASHKENT)
ALICE = "31501901230014"  # pays 1 200 000 so'm of tax on rent
BOB = "41203905670018"  # a refund
CAROL = "30112851230011"  # no phone, no Telegram: no code can reach her
PASSWORD = "correct horse battery staple"


class RecordingProducer:
    """aiokafka's producer as the portal uses it: ``send`` returns an ack future."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []

    async def send(self, topic: str, value: Any = None, key: Any = None) -> Any:
        import asyncio

        self.sent.append((topic, key, value))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


def return_value(pinfl: str, version: int, balance: int, lines: list[dict[str, Any]]) -> dict:
    return {
        "return_id": f"ret-{pinfl}-{YEAR}",
        "pinfl": pinfl,
        "tax_year": YEAR,
        "version": version,
        "computed_at": "2027-02-02T09:00:00+05:00",
        "rules_version": "uz-pit-2026.1",
        "reproducibility_hash": f"{abs(balance) + version:064x}"[-64:],
        "declaration_required": balance > 0,
        "totals": {
            "gross_income_tiyin": 1_000_000_000,
            "exempt_income_tiyin": 0,
            "taxable_income_tiyin": 1_000_000_000,
            "tax_computed_tiyin": max(balance, 0),
            "tax_credited_tiyin": max(-balance, 0),
            "balance_tiyin": balance,
        },
        "deadlines": {"declaration": "2027-04-01", "payment": "2027-06-01"},
        "lines": lines,
    }


def line(code: str, amount: int, sources: list[tuple[str, str, int]], subject: str = "") -> dict:
    return {
        "code": code,
        "label_key": code,
        "subject": subject,
        "amount_tiyin": amount,
        "legal_reference": "Tax Code Art 378",
        "sources": [{"registry": r, "record_id": i, "revision": v} for r, i, v in sources],
    }


def landlord(version: int = 1, rent: int = 1_000_000_000) -> dict:
    tax = rent * 12 // 100
    src = [("rental", "LEASE-1", version)]
    return return_value(
        ALICE,
        version,
        tax,
        [
            line("rental.income_individual_tenant", rent, src, subject="CN-1"),
            line("base.general", rent, src),
            line("tax.general", tax, src),
            line("result.payable", tax, src),
        ],
    )


def refund_return() -> dict:
    pay = [("payroll", "PAY-1", 1)]
    return return_value(
        BOB,
        1,
        -30_000_000,
        [
            line("employment.gross", 3_000_000_000, pay, subject="200000001"),
            line("exempt_use.tuition", 250_000_000, [("deduction", "TUI-1", 1)]),
            line("result.refund", 30_000_000, pay),
        ],
    )


@dataclasses.dataclass
class World:
    settings: Settings
    clock: FixedClock
    producer: RecordingProducer
    sessions: Any
    returns: ReturnsRepository
    lifecycle: LifecycleRepository
    machine: Machine

    def publish_version(self, value: dict) -> None:
        self.returns.save_versions([value], self.clock.now())
        self.lifecycle.apply(
            lambda case: self.machine.on_version(case, value, self.clock.now()),
            return_id=value["return_id"],
        )

    def apply_sent_decisions(self) -> None:
        """What the worker does with decisions.v1: apply every decision the portal sent."""
        for topic, _key, raw in self.producer.sent:
            if topic.endswith("decisions.v1"):
                value = json.loads(raw)
                self.lifecycle.apply(
                    lambda case, v=value: self.machine.on_decision(case, v, self.clock.now()),
                    return_id=value["return_id"],
                )
        self.producer.sent.clear()

    def settle_all(self, status: str = "succeeded") -> None:
        for pending in self.lifecycle.pending_payments():
            self.lifecycle.apply(
                lambda case, p=pending: self.machine.on_settlement(
                    case, p.payment_id, status, self.clock.now(), "gateway",
                    provider_ref="BANK-1", account_ref="8600 **** **** 1234",
                ),
                return_id=pending.return_id,
            )  # fmt: skip

    def sms_code(self, pinfl: str) -> str:
        from storage.notifier.sms import SmsMessage

        with self.sessions() as session:
            texts = [m.text for m in session.query(SmsMessage).filter_by(pinfl=pinfl)]
        match = re.search(r"\b(\d{6})\b", texts[-1])
        assert match, texts[-1]
        return match.group(1)


@pytest.fixture
def portal_db_url(tmp_path: Path) -> str:
    """SQLite here; tests/integration/test_portal_dashboard.py runs the same on PostgreSQL."""
    return f"sqlite:///{tmp_path / 'portal.db'}"


@pytest.fixture
def world(tmp_path: Path, portal_db_url: str) -> World:
    url = portal_db_url
    upgrade(url)
    clock_file = tmp_path / "clock"
    write_clock_file(clock_file, NOW)
    settings = dataclasses.replace(
        Settings.from_env({"PROACTAX_DEVELOPMENT": "1"}),
        run_dir=tmp_path,
        database_url=url,
        topic_namespace="unit",
        portal_cookie_secure=False,
        portal_dashboard_cache_s=0.0,
        development=True,
        portal_min_cell=1,  # two taxpayers: the disclosure tests set the real threshold
        clock_file=str(clock_file),
    )
    sessions = make_session_factory(make_engine(url))
    clock = FixedClock(NOW)
    people = PeopleRepository(sessions)
    people.apply(
        [
            PersonUpdate(ALICE, 1, {"full_name": "Alisher Karimov", "birth_date": "1980-05-01",
                                    "sex": "M", "region_code": "TAS_CITY",
                                    "phone": "+998901234567", "preferred_language": "en"}),
            PersonUpdate(BOB, 1, {"full_name": "Barno Yusupova", "birth_date": "1995-03-03",
                                  "sex": "F", "region_code": "SAM", "phone": "+998907654321",
                                  "preferred_language": "ru"}),
            PersonUpdate(CAROL, 1, {"full_name": "C", "birth_date": "1960-01-01", "sex": "F",
                                    "region_code": "FER", "phone": None,
                                    "preferred_language": "uz-Latn"}),
        ],
        clock.now(),
    )  # fmt: skip
    machine = Machine(LifecycleConfig.from_settings(settings).policy(load_parameters()))
    w = World(
        settings,
        clock,
        RecordingProducer(),
        sessions,
        ReturnsRepository(sessions),
        LifecycleRepository(sessions),
        machine,
    )
    w.publish_version(landlord())
    w.publish_version(refund_return())
    staff = StaffRepository(sessions)
    staff.upsert("ana", "analyst", hash_password(PASSWORD, n=2**10), "Ana", clock.now())
    staff.upsert("sup", "supervisor", hash_password(PASSWORD, n=2**10), "Sup", clock.now())
    staff.upsert("cas", "case_handler", hash_password(PASSWORD, n=2**10), "Cas", clock.now())
    return w


@pytest.fixture
def app_client(world: World) -> Iterator[TestClient]:
    app = create_app(world.settings, producer=world.producer, clock=world.clock)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client


def new_client(world: World, address: str = "192.0.2.1") -> Any:
    """A browser at ``address`` (throttles count per client)."""
    app = create_app(world.settings, producer=world.producer, clock=world.clock)
    return TestClient(app, base_url="http://127.0.0.1", client=(address, 50000))


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def sign_in(client: TestClient, world: World, pinfl: str) -> None:
    page = client.get("/sign-in")
    r = client.post("/sign-in", data={"pinfl": pinfl, "csrf_token": csrf_of(page.text)})
    assert r.status_code == 200, r.text  # followed to the code form
    code = world.sms_code(pinfl)
    r = client.post("/sign-in/code", data={"code": code, "csrf_token": csrf_of(r.text)})
    assert r.status_code == 200 and r.url.path == "/cabinet", r.text


def staff_sign_in(client: TestClient, username: str) -> None:
    page = client.get("/staff/sign-in")
    r = client.post(
        "/staff/sign-in",
        data={"username": username, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    assert r.status_code == 200 and r.url.path == "/dashboard", r.text
