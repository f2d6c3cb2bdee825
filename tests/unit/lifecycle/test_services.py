"""lifecycle.services as the bot and the portal use it (SQLite, a fake decision publisher)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.clock import FixedClock
from lifecycle import ids
from lifecycle.model import Refused
from lifecycle.services import LifecycleService
from storage.database import make_engine, make_session_factory
from storage.lifecycle.repository import LifecycleRepository
from storage.migrate import upgrade
from tests.unit.lifecycle.factories import (
    PINFL,
    RETURN_ID,
    TAX,
    YEAR,
    at,
    landlord,
    machine,
    sent,
)

OTHER = "31501901230022"


class Published:
    def __init__(self) -> None:
        self.messages: list[tuple[bytes, dict]] = []

    async def publish(self, key: bytes, value: bytes) -> None:
        self.messages.append((key, json.loads(value)))


@pytest.fixture
def service(tmp_path: Path) -> LifecycleService:
    url = f"sqlite:///{tmp_path / 'lifecycle.db'}"
    upgrade(url)
    repo = LifecycleRepository(make_session_factory(make_engine(url)))
    m = machine()
    repo.apply(lambda c: m.on_version(c, landlord(), at("2027-02-02")), return_id=RETURN_ID)
    first = sent(ids.notice_id("first_notice", RETURN_ID, 1))
    repo.apply(lambda c: m.on_notification(c, first, at("2027-02-02")), return_id=RETURN_ID)
    return LifecycleService(repo, m, FixedClock(at("2027-02-03")), Published())


async def test_submit_decision_checks_then_publishes(service: LifecycleService) -> None:
    receipt = await service.submit_decision(PINFL, YEAR, 1, "agree", "telegram")
    assert receipt.status == "accepted"
    assert receipt.decision_id == ids.decision_id(RETURN_ID, 1, "agree")
    ((key, value),) = service.publisher.messages  # type: ignore[union-attr]
    assert key == PINFL.encode()
    assert value["return_id"] == RETURN_ID and value["decided_at"] == "2027-02-03T10:00:00+05:00"
    assert "lines" not in value


async def test_refusals_are_immediate_and_typed(service: LifecycleService) -> None:
    with pytest.raises(Refused) as refused:
        await service.submit_decision(PINFL, YEAR, 2, "agree", "portal")
    assert (refused.value.code, refused.value.current_version) == ("unknown_version", 1)
    with pytest.raises(Refused) as refused:
        await service.submit_decision(OTHER, YEAR, 1, "agree", "portal")
    assert refused.value.code == "unknown_return"
    line = {"code": "tax.general", "reason_code": "other", "comment": ""}
    with pytest.raises(Refused) as refused:
        await service.submit_decision(PINFL, YEAR, 1, "disagree", "portal", lines=[line])
    assert refused.value.code == "line_not_disputable"
    with pytest.raises(Refused) as refused:
        await service.submit_decision(PINFL, YEAR, 1, "disagree", "portal")
    assert refused.value.code == "bad_request"
    assert service.publisher.messages == []  # type: ignore[union-attr]


async def test_a_decision_already_recorded_is_a_duplicate(service: LifecycleService) -> None:
    m = service.machine
    decision = {
        "decision_id": ids.decision_id(RETURN_ID, 1, "agree"),
        "return_id": RETURN_ID,
        "pinfl": PINFL,
        "tax_year": YEAR,
        "version": 1,
        "decision": "agree",
        "channel": "telegram",
    }
    service.repository.apply(
        lambda c: m.on_decision(c, decision, at("2027-02-03")), return_id=RETURN_ID
    )
    receipt = await service.submit_decision(PINFL, YEAR, 1, "agree", "portal")
    assert receipt.status == "duplicate"
    result = service.decision_result(PINFL, receipt.decision_id)
    assert result is not None and result.outcome == "applied"
    assert service.decision_result(OTHER, receipt.decision_id) is None  # not theirs


def test_views_payments_and_receipts(service: LifecycleService) -> None:
    status = service.record_view(PINFL, YEAR, 1, "portal")
    assert (status.state, status.payable_now_tiyin, status.interest_tiyin) == ("viewed", TAX, 0)
    status = service.request_payment(PINFL, YEAR, "portal")
    assert status.state == "payment_pending" and status.payment_in_progress
    with pytest.raises(Refused) as refused:
        service.request_payment(PINFL, YEAR, "portal")
    assert refused.value.code == "payment_in_progress"
    (payment,) = service.repository.pending_payments()
    m = service.machine
    service.repository.apply(
        lambda c: m.on_settlement(c, payment.payment_id, "succeeded", at("2027-02-04"), "test"),
        return_id=RETURN_ID,
    )
    (receipt,) = service.receipts(PINFL, YEAR)
    assert (receipt.receipt_id, receipt.amount_tiyin) == (payment.payment_id, TAX)
    assert receipt.reproducibility_hash == landlord()["reproducibility_hash"]
    assert service.receipt(OTHER, payment.payment_id) is None
    assert service.status(PINFL, YEAR).state == "paid"  # type: ignore[union-attr]
    events = [e.event for e in service.audit_log(PINFL, YEAR)]
    assert events == [
        "computed",
        "notified",
        "viewed",
        "agreed",
        "payment_requested",
        "payment_succeeded",
    ]
    assert service.audit_log(OTHER) == []
