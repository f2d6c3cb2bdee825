"""The dashboard's SQL on SQLite and PostgreSQL, and registry feed health through the real
broker and worker.

1. A season seeded through the real lifecycle machine (what the worker does): the funnel
   by day and cumulative, breakdowns by region, sex, age band and channel, money, the
   disputes queue (filters, masked PINFLs) and ``/metrics`` agree with what happened.
2. Registry events, dead letters and a ``period_closed`` go through the real worker: the
   feed-health projection counts each exactly once, also after the worker is killed -9
   and replays.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from fastapi.testclient import TestClient

from contracts.topics import namespaced, registry_topic
from core.clock import TASHKENT, FixedClock, write_clock_file
from core.kafka import client_options
from core.settings import Settings
from devtools.registries_mock.pinfl import make_pinfl
from devtools.registries_mock.publisher import close_year, publish
from devtools.registries_mock.season import Event
from lifecycle.config import LifecycleConfig
from lifecycle.machine import Machine
from portal.app import create_app
from storage.database import make_engine, make_session_factory
from storage.feed_health import FeedHealthRepository
from storage.lifecycle.repository import LifecycleRepository
from storage.migrate import upgrade
from storage.people import PeopleRepository, PersonUpdate
from storage.portal.dashboard import DashboardQueries
from storage.portal.staff import StaffRepository
from storage.returns_repository import ReturnsRepository
from tax import load_parameters
from tests.support.waiting import wait_until
from tests.support.worker import WorkerProcess
from tests.unit.portal_web.conftest import (
    ALICE,
    BOB,
    PASSWORD,
    YEAR,
    RecordingProducer,
    landlord,
    refund_return,
    staff_sign_in,
    world,  # noqa: F401 - the unit tier's fixture, here on both databases
)

pytestmark = pytest.mark.integration


def test_dashboard_figures_on_sqlite_and_postgres(database_url: str, tmp_path: Path) -> None:
    from portal.web.security import hash_password

    upgrade(database_url)
    sessions = make_session_factory(make_engine(database_url))
    day1 = dt.datetime(2027, 2, 10, 10, tzinfo=TASHKENT)
    day2 = dt.datetime(2027, 2, 11, 10, tzinfo=TASHKENT)
    PeopleRepository(sessions).apply(
        [
            PersonUpdate(ALICE, 1, {"birth_date": "1980-05-01", "sex": "M",
                                    "region_code": "TAS_CITY", "phone": "+998901234567"}),
            PersonUpdate(BOB, 1, {"birth_date": "2003-03-03", "sex": "F", "region_code": "SAM",
                                  "phone": "+998907654321"}),
        ],
        day1,
    )  # fmt: skip
    settings = dataclasses.replace(
        Settings.from_env({"PROACTAX_DEVELOPMENT": "1"}),
        run_dir=tmp_path,
        database_url=database_url,
        portal_cookie_secure=False,
        portal_dashboard_cache_s=0.0,
        development=True,  # /metrics without a token
        portal_min_cell=1,  # exact figures of two taxpayers (test_disclosure.py: the threshold)
    )
    machine = Machine(LifecycleConfig.from_settings(settings).policy(load_parameters()))
    repo = LifecycleRepository(sessions)
    returns = ReturnsRepository(sessions)
    for value in (landlord(), refund_return()):
        returns.save_versions([value], day1)
        repo.apply(lambda c, v=value: machine.on_version(c, v, day1), return_id=value["return_id"])
    repo.apply(lambda c: machine.on_view(c, 1, "portal", day1), taxpayer=(ALICE, YEAR))
    for pinfl, at in ((ALICE, day2), (BOB, day1)):
        case = repo.case(pinfl, YEAR)
        decision = {
            "decision_id": f"d-{pinfl}", "return_id": case.return_id, "pinfl": pinfl,
            "tax_year": YEAR, "version": 1, "decision": "agree",
            "channel": "portal" if pinfl == ALICE else "telegram",
            "decided_at": at.isoformat(),
        }  # fmt: skip
        repo.apply(lambda c, d=decision, t=at: machine.on_decision(c, d, t), taxpayer=(pinfl, YEAR))
    for pending in repo.pending_payments():
        repo.apply(
            lambda c, p=pending: machine.on_settlement(c, p.payment_id, "succeeded", day2, "gw"),
            return_id=pending.return_id,
        )

    queries = DashboardQueries(sessions)
    daily = queries.funnel_by_day(YEAR)
    assert daily["2027-02-10"]["computed"] == 2 and daily["2027-02-10"]["viewed"] == 1
    assert daily["2027-02-11"]["agreed"] == 1 and daily["2027-02-10"]["agreed"] == 1
    assert daily["2027-02-11"]["paid"] == 1 and daily["2027-02-11"]["refunded"] == 1
    b = queries.breakdowns(YEAR)
    assert b["region"]["TAS_CITY"]["paid"] == 1 and b["region"]["SAM"]["refunded"] == 1
    assert b["sex"]["F"]["agreed"] == 1 and b["age_band"]["45-54"]["paid"] == 1
    assert b["age_band"]["<25"]["computed"] == 1
    assert b["channel"]["portal"]["agreed"] == 1 and b["channel"]["telegram"]["agreed"] == 1
    assert queries.money_by_day(YEAR)["2027-02-11"] == {"payment": 120_000_000,
                                                        "refund": 30_000_000}  # fmt: skip

    StaffRepository(sessions).upsert("ana", "analyst", hash_password(PASSWORD, n=2**10), "", day2)
    app = create_app(settings, producer=RecordingProducer(), clock=FixedClock(day2))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        metrics = client.get("/metrics")
        assert metrics.status_code == 200
        assert f'proactax_funnel_taxpayers{{tax_year="{YEAR}",step="paid"}} 1' in metrics.text
        assert 'proactax_amount_tiyin{tax_year="2026",measure="collected"} 120000000' in (
            metrics.text
        )
        staff_sign_in(client, "ana")
        csv_text = client.get("/dashboard/export/breakdown_region.csv").text
        assert csv_text.splitlines()[0].startswith("region,computed,notified")
        page = client.get("/dashboard/breakdowns")
        assert page.status_code == 200 and ALICE not in page.text and BOB not in page.text


async def _send_raw(settings: Settings, topic: str, key: bytes, value: bytes) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, **client_options(settings), acks="all"
    )
    await producer.start()
    try:
        await producer.send_and_wait(namespaced(topic, settings.topic_namespace), value, key)
    finally:
        await producer.stop()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_feed_health_counts_each_event_once_across_a_crash(
    pipeline_settings: Settings, tmp_path: Path
) -> None:
    settings = dataclasses.replace(pipeline_settings, clock_start="2027-01-20T10:00:00+05:00")
    upgrade(settings.database)
    feed = FeedHealthRepository(make_session_factory(make_engine(settings.database)))
    pinfl = make_pinfl(dt.date(1985, 1, 1), "M", 300, 1)

    def payroll(n: int) -> Event:
        return Event("payroll", pinfl, {
            "event_id": f"pay-{n}", "registry": "payroll", "schema_version": 1,
            "record_id": f"PAY-{n}", "revision": 1, "action": "upsert",
            "occurred_at": "2027-01-10T10:00:00+05:00", "pinfl": pinfl, "tax_year": 2026,
            "data": {"employer_tin": "201234567", "month": 1 + n % 12,
                     "gross_income_tiyin": 100_000_000, "exempt_at_source_tiyin": 0,
                     "pit_withheld_tiyin": 12_000_000, "inps_offset_tiyin": 0},
        })  # fmt: skip

    worker = WorkerProcess(settings, tmp_path / "worker-1.log").start()
    try:
        asyncio.run(
            publish([payroll(n) for n in range(30)], settings,
                    settings.topic_namespace)
        )  # fmt: skip
        asyncio.run(_send_raw(settings, registry_topic("payroll"), pinfl.encode(), b"{not json"))
        asyncio.run(close_year(2026, settings, settings.topic_namespace))

        def counted() -> bool:
            worker.assert_alive()
            totals = feed.totals()
            return (
                totals.get(("event", "payroll", ""), 0) >= 31
                and totals.get(("deadletter", "payroll", "not_json"), 0) == 1
                and len(feed.closures()) == 5
            )

        wait_until(counted, timeout_s=90, what="feed health counts", describe=worker.log_tail)
        worker.kill()  # no final commit: the next worker replays from the last commit
        worker = WorkerProcess(settings, tmp_path / "worker-2.log").start()
        asyncio.run(
            publish([payroll(n) for n in range(30, 35)], settings,
                    settings.topic_namespace)
        )  # fmt: skip
        wait_until(
            lambda: worker.assert_alive() or feed.totals().get(("event", "payroll", ""), 0) >= 36,
            timeout_s=90,
            what="the events after the restart",
            describe=worker.log_tail,
        )
        totals = feed.totals()
        assert totals[("event", "payroll", "")] == 36  # 35 events + 1 unreadable, once each
        assert totals[("deadletter", "payroll", "not_json")] == 1
        (day,) = {r.day for r in feed.daily()}
        assert day == dt.date(2027, 1, 20)
        assert {c.registry for c in feed.closures()} == {
            "payroll", "rental", "property_sale", "dividend", "deduction"
        }  # fmt: skip
        json.dumps([dataclasses.asdict(c) for c in feed.closures()], default=str)
    finally:
        worker.stop()


@pytest.fixture
def portal_db_url(database_url: str) -> str:
    return database_url


def test_survey_answers_of_both_channels_on_both_databases(world: Any) -> None:  # noqa: F811
    """The survey's storage (channel column, migration 0012) and its dashboard figures by
    channel, region, sex and age band on SQLite and PostgreSQL."""
    from tests.unit.portal_web import test_survey_channels

    test_survey_channels.test_telegram_answers_count_in_the_dashboard_figures(world)


def test_sign_in_agree_pay_and_security_on_both_databases(world: Any) -> None:  # noqa: F811
    """The cabinet's flow and its security checks on SQLite and PostgreSQL (sessions,
    throttles with row locks, surveys)."""
    from tests.unit.portal_web import test_cabinet, test_security

    def two_minutes_later() -> None:  # the notifier sends one code a minute per taxpayer
        world.clock.advance(dt.timedelta(minutes=2))
        write_clock_file(Path(world.settings.clock_file), world.clock.now())

    test_cabinet.test_agree_pay_receipt_and_survey(world)
    two_minutes_later()
    test_security.test_sign_in_rotates_the_session_and_sets_safe_cookies(world)
    two_minutes_later()
    test_security.test_guessing_codes_is_throttled(world)  # last: Alice is locked out after
