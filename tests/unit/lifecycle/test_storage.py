"""storage.lifecycle on SQLite with the real migration: a case survives the round trip,
notices are never queued twice, the audit log refuses changes, and the reconciler settles
through the stub gateway exactly once in every mode."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import text

from core.clock import FixedClock
from lifecycle import ids
from lifecycle.gateway import GatewayRequest, GatewayTimeout, StubGateway
from lifecycle.machine import Machine
from lifecycle.model import Case, CommandResult, State
from lifecycle.reconciler import Reconciler
from storage.database import make_engine, make_session_factory
from storage.lifecycle.repository import LifecycleRepository
from storage.lifecycle.stub_gateway import StubLedgerRepository
from storage.lifecycle.tables import StubGatewayEntry
from storage.migrate import upgrade
from tests.unit.lifecycle.factories import RETURN_ID, TAX, at, decision, landlord, machine, sent


@pytest.fixture
def sessions(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'lifecycle.db'}"
    upgrade(url)
    return make_session_factory(make_engine(url))


def run(repo: LifecycleRepository, fn, **where):
    return repo.apply(fn, **where)


def agreed(repo: LifecycleRepository, m: Machine) -> None:
    repo.apply(lambda c: m.on_version(c, landlord(), at("2027-02-02")), return_id=RETURN_ID)
    first = sent(ids.notice_id("first_notice", RETURN_ID, 1))
    repo.apply(lambda c: m.on_notification(c, first, at("2027-02-02")), return_id=RETURN_ID)
    applied = repo.apply(
        lambda c: m.on_decision(c, decision("agree"), at("2027-02-03")), return_id=RETURN_ID
    )
    assert applied.outcome.gateway_calls


def test_a_case_survives_the_round_trip(sessions) -> None:
    repo, m = LifecycleRepository(sessions), machine()
    applied = repo.apply(
        lambda c: m.on_version(c, landlord(), at("2027-02-02")), return_id=RETURN_ID
    )
    assert [i.topic for i in applied.outbox] == ["notices.v1"]
    again = repo.apply(lambda c: m.on_version(c, landlord(), at("2027-02-02")), return_id=RETURN_ID)
    assert again.outbox == []
    agreed(repo, m)
    case = repo.case_by_id(RETURN_ID)
    assert case is not None and case.state == State.PAYMENT_PENDING
    assert case.notices == {f"first_notice:{RETURN_ID}:1"}
    assert case.notified_on == dt.date(2027, 2, 2)
    (payment,) = case.payments
    assert payment.requested_at == at("2027-02-03") and payment.requested_at.tzinfo
    assert [e.to_state for e in repo.audit(case.pinfl)] == [
        "computed",
        "notified",
        "agreed",
        "payment_pending",
    ]
    assert repo.decision(decision("agree")["decision_id"]).outcome == "applied"


def test_the_audit_log_is_append_only(sessions) -> None:
    repo, m = LifecycleRepository(sessions), machine()
    repo.apply(lambda c: m.on_version(c, landlord(), at("2027-02-02")), return_id=RETURN_ID)
    with sessions() as session:
        for statement in ("UPDATE lifecycle_audit SET reason = 'x'", "DELETE FROM lifecycle_audit"):
            with pytest.raises(Exception, match="append-only"):
                session.execute(text(statement))
            session.rollback()


@pytest.mark.parametrize(
    ("mode", "rounds", "status"),
    [("success", 1, State.PAID), ("decline", 1, State.AGREED), ("timeout", 2, State.PAID)],
)
def test_the_reconciler_settles_exactly_once(sessions, mode: str, rounds: int, status) -> None:
    repo, m = LifecycleRepository(sessions), machine()
    ledger = StubLedgerRepository(sessions)
    gateway = StubGateway(ledger, StubGatewayEntry, mode=mode)
    reconciler = Reconciler(repo, m, gateway, FixedClock(at("2027-02-03", 12)))
    agreed(repo, m)
    for _ in range(rounds + 2):  # extra rounds change nothing
        reconciler.settle_all()
    case = repo.case_by_id(RETURN_ID)
    assert case is not None and case.state == status
    entries = ledger.entries()
    assert len(entries) == 1 and entries[0].amount_tiyin == TAX
    statuses = [i.value["status"] for i in repo.outbox(RETURN_ID, "payments.v1")]
    assert statuses == ["pending", "declined" if mode == "decline" else "succeeded"]


def test_delay_settles_after_the_delay_and_a_key_never_charges_twice(sessions) -> None:
    now = [dt.datetime(2027, 2, 3, 7, tzinfo=dt.UTC)]
    ledger = StubLedgerRepository(sessions)
    gateway = StubGateway(
        ledger, StubGatewayEntry, mode="delay", delay_s=5, wall_clock=lambda: now[0]
    )
    request = GatewayRequest("k-1", "charge", "31501901230014", 100, "pay-1")
    assert gateway.submit(request).status == "pending"
    assert gateway.submit(request).status == "pending"
    now[0] += dt.timedelta(seconds=6)
    assert gateway.submit(request).status == "succeeded"
    timeout = StubGateway(ledger, StubGatewayEntry, mode="timeout")
    other = GatewayRequest("k-2", "charge", "31501901230014", 100, "pay-2")
    with pytest.raises(GatewayTimeout):
        timeout.submit(other)
    assert timeout.submit(other).status == "succeeded"
    assert len(ledger.entries()) == 2


def test_the_timer_finds_what_is_due(sessions) -> None:
    repo, m = LifecycleRepository(sessions), machine()
    repo.apply(lambda c: m.on_version(c, landlord(), at("2027-02-02")), return_id=RETURN_ID)
    first = sent(ids.notice_id("first_notice", RETURN_ID, 1))
    repo.apply(lambda c: m.on_notification(c, first, at("2027-02-02")), return_id=RETURN_ID)
    assert repo.due(dt.date(2027, 3, 1)) == []
    assert repo.due(dt.date(2027, 3, 2)) == [RETURN_ID]

    def tick(case: Case | None) -> CommandResult:
        assert case is not None
        return m.on_tick(case, at("2027-03-02"))

    applied = repo.apply(tick, return_id=RETURN_ID)
    assert [i.value["kind"] for i in applied.outbox] == ["reminder"]
    assert repo.due(dt.date(2027, 3, 2)) == []
    funnel = repo.funnel(2026)
    assert funnel["by_state"] == {"notified": 1}
    assert funnel["notices"] == {"first_notice": 1, "reminder": 1}
    assert funnel["assessed_tiyin"] == TAX
