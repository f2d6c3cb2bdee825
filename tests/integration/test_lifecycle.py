"""The return lifecycle end to end: registry events ► real Kafka ► the worker ► SQL, with
this test standing in for the notifier (notifications.v1), the bot and the portal
(lifecycle.services), and the registries (revisions, disputes.responses.v1), on SQLite and
PostgreSQL. Time is driven through the clock file (2 February ► 20 February ► 2 March ►
10 June 2027); the worker is killed (-9) between a payment request and its settlement.

One season of a dozen taxpayers covers every transition:

=====  ==========================================================================
A      notified ► viewed ► agreed ► paid; duplicate decisions; a new version after
       payment that grows (decision on the old version refused) ► the difference paid
B      paid, then a correction that shrinks ► the excess refunded unasked
C      a refund: agreed ► refund pending ► refunded
D      nothing due: no notice
E      disputed ► the registry confirms ► back to the taxpayer (notified)
F      disputed ► the registry corrects (a new revision) ► new version, re-notified
G      disputed ► no answer by respond_by ► STC review queue
H      payment declined ► agreed (payable again)
I      never decides: reminder 30 days before 1 April, overdue after 1 June with
       interest, then pays principal + interest
K      payment with a delayed gateway; the worker is killed -9 before it settles ► paid
       exactly once after the restart
T      gateway timeout (the money moved, the answer was lost) ► paid exactly once
=====  ==========================================================================
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from agents.returns_builder import return_id
from contracts import topics
from contracts.topics import namespaced
from lifecycle import ids
from lifecycle.clock import write_clock_file
from lifecycle.model import Refused
from lifecycle.publisher import KafkaDecisionPublisher
from lifecycle.services import LifecycleService
from proactax.kafka_client import client_options
from proactax.settings import Settings
from registries_mock.pinfl import make_pinfl
from registries_mock.publisher import close_year, publish
from registries_mock.season import Event
from storage.database import make_engine, make_session_factory
from storage.lifecycle import LifecycleRepository, StubLedgerRepository
from storage.migrate import upgrade
from tax import late_payment_interest, load_parameters
from tests.support.waiting import wait_until
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration

YEAR = 2026
TASHKENT = dt.timezone(dt.timedelta(hours=5))
RENT = 100_000_000  # 1 000 000 soum a month from an individual tenant
TAX = 12 * RENT * 12 // 100  # 144 000 000 tiyin
TENANT = make_pinfl(dt.date(1990, 5, 5), "F", 200, 1)
WAIT_S = 60
NAMES = "ABCDEFGHIKT"
PEOPLE = {name: make_pinfl(dt.date(1970 + i, 1 + i, 1 + i), "M", 100 + i, 10 + i) for i, name in
          enumerate(NAMES)}  # fmt: skip
RENT_LINE = {
    "code": "rental.income_individual_tenant",
    "reason_code": "wrong_amount",
    "comment": "The rent was lower.",
}


def event(registry: str, pinfl: str, record_id: str, revision: int, data: dict) -> Event:
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
            "tax_year": YEAR,
            "data": data,
        },
    )


def lease(name: str, monthly: int = RENT, revision: int = 1) -> Event:
    pinfl = PEOPLE[name]
    return event(
        "rental",
        pinfl,
        f"REN-{name}",
        revision,
        {
            "contract_number": f"N-2026-{name}",
            "tenant_kind": "individual",
            "tenant_id": TENANT,
            "cadastral_number": f"10:08:02:02:01:00{NAMES.index(name):02d}",
            "start_date": "2026-01-01",
            "end_date": "2026-12-31",
            "monthly_rent_tiyin": monthly,
            "pit_withheld_tiyin": 0,
        },
    )


def salary(name: str) -> Event:
    """8 000 000 soum in January, 12 % withheld (INPS offset included): nothing due."""
    return event(
        "payroll",
        PEOPLE[name],
        f"PAY-{name}",
        1,
        {
            "employer_tin": "201234567",
            "month": 1,
            "gross_income_tiyin": 800_000_000,
            "exempt_at_source_tiyin": 0,
            "pit_withheld_tiyin": 95_200_000,
            "inps_offset_tiyin": 800_000,
        },
    )


def tuition(name: str) -> Event:
    return event(
        "deduction",
        PEOPLE[name],
        f"DED-{name}",
        1,
        {
            "kind": "tuition",
            "provider_tin": "202345678",
            "beneficiary_pinfl": PEOPLE[name],
            "paid_on": "2026-09-01",
            "amount_tiyin": 100_000_000,
        },
    )


@dataclasses.dataclass
class Harness:
    settings: Settings
    clock_path: Path
    repo: LifecycleRepository
    service: LifecycleService
    worker: WorkerProcess

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
        return self.repo.case(PEOPLE[name], YEAR)

    def state(self, name: str) -> str | None:
        case = self.case(name)
        return None if case is None else str(case.state)

    def states(self) -> dict[str, str | None]:
        return {name: self.state(name) for name in NAMES}

    def wait_state(self, name: str, state: str, version: int | None = None) -> Any:
        def probe() -> Any:
            case = self.case(name)
            ok = case is not None and str(case.state) == state
            return case if ok and (version is None or case.version.number == version) else None

        return self.wait(probe, f"{name} {state}" + (f" v{version}" if version else ""))

    def ack(self, name: str, kind: str = "first_notice", version: int = 1) -> None:
        """The notifier's word that a notice reached the taxpayer (notifications.v1)."""
        pinfl = PEOPLE[name]
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
                "occurred_at": "2027-02-02T09:00:03+05:00",
                "detail": "",
            },
        )

    def decide(self, name: str, choice: str, version: int = 1, **kwargs: Any) -> Any:
        async def go() -> Any:
            async with KafkaDecisionPublisher(self.settings) as publisher:
                self.service.publisher = publisher
                return await self.service.submit_decision(
                    PEOPLE[name], YEAR, version, choice, kwargs.pop("channel", "telegram"), **kwargs
                )

        return asyncio.run(go())

    def notices(self, name: str) -> list[dict[str, Any]]:
        return [i.value for i in self.repo.outbox(return_id(PEOPLE[name], YEAR), topics.NOTICES)]

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


@pytest.fixture
def harness(pipeline_settings: Settings, tmp_path: Path):
    clock_path = tmp_path / "clock"
    write_clock_file(clock_path, dt.datetime(2027, 2, 2, 9, tzinfo=TASHKENT))
    settings = dataclasses.replace(
        pipeline_settings,
        clock_file=str(clock_path),
        lifecycle_timer_interval_s=0.5,
        payment_reconcile_interval_s=0.5,
        payment_stub_delay_s=8.0,
        payment_stub_overrides=f"{PEOPLE['H']}=decline,{PEOPLE['K']}=delay,{PEOPLE['T']}=timeout",
    )
    upgrade(settings.database)
    sessions = make_session_factory(make_engine(settings.database))
    worker = WorkerProcess(settings, tmp_path / "worker-1.log").start()
    h = Harness(
        settings,
        clock_path,
        LifecycleRepository(sessions),
        LifecycleService.from_settings(settings, sessions=sessions),
        worker,
    )
    try:
        yield h
    finally:
        assert h.worker.stop() == 0, h.worker.log_tail()


def test_every_transition_of_the_return_lifecycle(harness: Harness, tmp_path: Path) -> None:
    h = harness
    ledger = StubLedgerRepository(make_session_factory(make_engine(h.settings.database)))
    h.publish(
        *(lease(n) for n in "ABEFGHIKT"),
        lease("B"),  # a redelivery: ignored by the ledger
        salary("C"),
        tuition("C"),
        salary("D"),
    )
    asyncio.run(close_year(YEAR, h.settings, h.settings.topic_namespace))

    # --- computed; nothing due; first notices; notified -----------------------------------
    h.wait(lambda: all(h.state(n) for n in NAMES), "every return in the lifecycle")
    assert h.state("D") == "nothing_due" and h.notices("D") == []
    assert {n: h.state(n) for n in NAMES if n != "D"} == dict.fromkeys(
        NAMES.replace("D", ""), "computed"
    )
    assert h.case("A").version.balance_tiyin == TAX
    assert h.case("C").version.balance_tiyin < 0
    for name in NAMES.replace("D", ""):
        assert h.kinds(name) == ["first_notice"], name
        h.ack(name)
    for name in NAMES.replace("D", ""):
        h.wait_state(name, "notified")

    # --- A: viewed, agreed, paid; duplicate decisions are no-ops ---------------------------
    assert h.service.record_view(PEOPLE["A"], YEAR, 1, "portal").state == "viewed"
    receipt = h.decide("A", "agree")
    assert receipt.status == "accepted"
    h.wait_state("A", "paid")
    assert h.decide("A", "agree", channel="portal").status == "duplicate"
    raw = {
        "decision_id": "dec-A-again",
        "return_id": return_id(PEOPLE["A"], YEAR),
        "pinfl": PEOPLE["A"],
        "tax_year": YEAR,
        "version": 1,
        "decision": "agree",
        "channel": "portal",
        "decided_at": "2027-02-02T10:00:00+05:00",
    }
    h.send(topics.DECISIONS, PEOPLE["A"], raw)
    result = h.wait(
        lambda: h.service.decision_result(PEOPLE["A"], "dec-A-again"), "A's duplicate decision"
    )
    assert (result.outcome, result.reason_code) == ("duplicate", "already_settled")
    (paid,) = h.service.receipts(PEOPLE["A"], YEAR)
    assert (paid.kind, paid.amount_tiyin) == ("payment", TAX)
    assert paid.reproducibility_hash == h.case("A").version.reproducibility_hash
    assert h.kinds("A") == ["first_notice", "payment_receipt"]

    # --- C: a refund to the account on file --------------------------------------------------
    h.decide("C", "agree")
    h.wait_state("C", "refunded")
    (refund,) = h.service.receipts(PEOPLE["C"])
    assert refund.kind == "refund" and refund.account_ref.startswith("8600 ****")
    assert refund.amount_tiyin == -h.case("C").version.balance_tiyin
    assert h.kinds("C") == ["first_notice", "refund_notice"]

    # --- H: a declined payment; T: a timeout; K: delayed, and the worker is killed ----------
    h.decide("H", "agree")
    h.decide("T", "agree")
    h.decide("K", "agree")
    h.wait_state("K", "payment_pending")
    h.worker.kill()
    assert [e.status for e in ledger.entries(PEOPLE["K"])] == ["pending"]
    h.worker = WorkerProcess(h.settings, tmp_path / "worker-2.log").start()
    h.wait_state("K", "paid")
    h.wait_state("T", "paid")
    h.wait_state("H", "agreed")
    for name in "KT":
        (entry,) = ledger.entries(PEOPLE[name])
        assert (entry.status, entry.amount_tiyin) == ("succeeded", TAX), name
        assert [r.amount_tiyin for r in h.service.receipts(PEOPLE[name])] == [TAX], name
    declined = [n for n in h.notices("H") if n["kind"] == "payment_due_reminder"]
    assert declined and declined[0]["details"]["payment_declined"] is True

    # --- disputes: E confirmed, F corrected, G unanswered -------------------------------------
    for name in "EFG":
        h.decide(name, "disagree", lines=[RENT_LINE])
    for name in "EFG":
        h.wait_state(name, "disputed")
    disputes = {d.pinfl: d for d in h.repo.disputes(tax_year=YEAR)}
    assert {d.registry_name for d in disputes.values()} == {"rental"}
    assert disputes[PEOPLE["E"]].respond_by == dt.date(2027, 2, 16)  # 10 working days
    h.send(
        topics.DISPUTE_RESPONSES,
        "rental",
        {
            "dispute_id": disputes[PEOPLE["E"]].dispute_id,
            "resolution": "confirmed",
            "comment": "The notary's contract says 1 000 000 soum.",
        },
    )
    h.publish(lease("F", monthly=RENT // 2, revision=2))
    h.wait_state("E", "notified")
    assert "dispute_update" in h.kinds("E")
    f = h.wait_state("F", "computed", version=2)
    assert f.version.balance_tiyin == TAX // 2
    assert [d.status for d in f.disputes] == ["corrected"]
    assert h.kinds("F")[-1] == "amendment"

    # --- B: paid, then a correction that shrinks: refunded unasked ----------------------------
    h.decide("B", "agree")
    h.wait_state("B", "paid")
    h.publish(lease("B", monthly=RENT * 3 // 4, revision=2))
    h.wait_state("B", "refunded", version=2)
    assert [(r.kind, r.amount_tiyin) for r in h.service.receipts(PEOPLE["B"])] == [
        ("payment", TAX),
        ("refund", TAX // 4),
    ]

    # --- A: a correction that grows after payment; the old version is refused ----------------
    h.publish(lease("A", monthly=RENT * 5 // 4, revision=2))
    h.wait_state("A", "computed", version=2)
    with pytest.raises(Refused) as refused:
        h.decide("A", "agree", version=1, decision_id="dec-A-v1-late")
    assert (refused.value.code, refused.value.current_version) == ("superseded_version", 2)
    h.send(topics.DECISIONS, PEOPLE["A"], dict(raw, decision_id="dec-A-v1-raced"))
    result = h.wait(
        lambda: h.service.decision_result(PEOPLE["A"], "dec-A-v1-raced"), "A's outdated decision"
    )
    assert (result.outcome, result.reason_code, result.current_version) == (
        "refused",
        "superseded_version",
        2,
    )
    amendment = h.notices("A")[-1]
    assert (amendment["kind"], amendment["balance_tiyin"]) == ("amendment", TAX // 4)
    h.ack("A", "amendment", 2)
    h.wait_state("A", "notified", version=2)
    h.decide("A", "agree", version=2)
    h.wait_state("A", "paid", version=2)
    assert [r.amount_tiyin for r in h.service.receipts(PEOPLE["A"])] == [TAX, TAX // 4]

    # --- 20 February: G's registry never answered ---------------------------------------------
    h.at("2027-02-20")
    h.wait_state("G", "review")
    assert [d.pinfl for d in h.service.review_queue(YEAR)] == [PEOPLE["G"]]

    # --- 2 March: reminders 30 days before 1 April --------------------------------------------
    h.at("2027-03-02")
    h.wait(lambda: "reminder" in h.kinds("I"), "I's 30-day reminder")
    reminder = h.notices("I")[-1]
    assert reminder["details"]["days"] == 30 and reminder["deadline"] == "2027-04-01"

    # --- 10 June: overdue with late-payment interest, then paid with it ----------------------
    h.at("2027-06-10")
    h.wait_state("I", "overdue")
    interest = late_payment_interest(
        TAX, dt.date(2027, 6, 1), dt.date(2027, 6, 10), load_parameters()
    )
    overdue = h.notices("I")[-1]
    assert overdue["kind"] == "overdue" and overdue["details"]["interest_tiyin"] == interest
    status = h.service.status(PEOPLE["I"], YEAR)
    assert (status.overdue_since, status.interest_tiyin) == ("2027-06-02", interest)
    h.decide("I", "agree")
    h.wait_state("I", "paid")
    (late,) = h.service.receipts(PEOPLE["I"])
    assert (late.principal_tiyin, late.interest_tiyin) == (TAX, interest)

    # --- the audit log, the funnel, and what crossed the broker -------------------------------
    log = h.service.audit_log(PEOPLE["A"], YEAR)
    moves = [(e.from_state, e.to_state) for e in log if e.from_state != e.to_state]
    assert moves == [
        (None, "computed"),
        ("computed", "notified"),
        ("notified", "viewed"),
        ("viewed", "agreed"),
        ("agreed", "payment_pending"),
        ("payment_pending", "paid"),
        ("paid", "computed"),
        ("computed", "notified"),
        ("notified", "agreed"),
        ("agreed", "payment_pending"),
        ("payment_pending", "paid"),
    ]
    assert all(e.actor and e.reason for e in log)
    funnel = h.service.funnel(YEAR)
    assert funnel["returns"] == len(NAMES)
    assert funnel["reached"]["paid"] == 5  # A B I K T; H never
    h.wait(lambda: not h.repo.unpublished(dt.datetime.now(dt.UTC)), "every outbox row published")
    on_topic = asyncio.run(_read_all(h.settings, topics.NOTICES))
    in_outbox = {i.value["notice_id"] for i in h.repo.outbox(topic=topics.NOTICES)}
    assert {v["notice_id"] for _, v in on_topic} == in_outbox
    assert all(key.decode() == v["pinfl"] for key, v in on_topic)
    settled = Counter(
        v["payment_id"]
        for _, v in asyncio.run(_read_all(h.settings, topics.PAYMENTS))
        if v["status"] == "succeeded"
    )
    assert len(settled) == sum(len(h.service.receipts(PEOPLE[n])) for n in NAMES)
    sent_disputes = asyncio.run(_read_all(h.settings, topics.DISPUTES))
    assert {v["dispute_id"] for _, v in sent_disputes} == {d.dispute_id for d in disputes.values()}
    assert all(key == b"rental" for key, _ in sent_disputes)
