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
import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from agents.returns_builder import return_id
from contracts import topics
from core.settings import Settings
from devtools.registries_mock.pinfl import make_pinfl
from devtools.registries_mock.publisher import close_year
from devtools.registries_mock.season import Event
from lifecycle.model import Refused
from storage.database import make_engine, make_session_factory
from storage.lifecycle.stub_gateway import StubLedgerRepository
from tax import late_payment_interest, load_parameters
from tests.integration import lifecycle_harness as support
from tests.integration.lifecycle_harness import RENT, TAX, YEAR, Harness, read_all
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration

TENANT = make_pinfl(dt.date(1990, 5, 5), "F", 200, 1)
NAMES = "ABCDEFGHIKT"
PEOPLE = {name: make_pinfl(dt.date(1970 + i, 1 + i, 1 + i), "M", 100 + i, 10 + i) for i, name in
          enumerate(NAMES)}  # fmt: skip
RENT_LINE = {
    "code": "rental.income_individual_tenant",
    "reason_code": "wrong_amount",
    "comment": "The rent was lower.",
}


def lease(name: str, monthly: int = RENT, revision: int = 1) -> Event:
    return support.lease(PEOPLE[name], name, NAMES.index(name), TENANT, monthly, revision)


def salary(name: str) -> Event:
    """8 000 000 soum in January, 12 % withheld (INPS offset included): nothing due."""
    return support.salary(PEOPLE[name], name)


def tuition(name: str) -> Event:
    return support.tuition(PEOPLE[name], name)


@pytest.fixture
def harness(pipeline_settings: Settings, tmp_path: Path):
    overrides = {"H": "decline", "K": "delay", "T": "timeout"}
    with support.running_lifecycle(pipeline_settings, tmp_path, PEOPLE, overrides) as h:
        yield h


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
    # The gateway is asked after the state is committed: kill only once it holds the money.
    h.wait(lambda: ledger.entries(PEOPLE["K"]), "K's payment with the gateway")
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
    assert {d.registry for d in disputes.values()} == {"rental"}
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
    # answers that cannot be applied are dead letters with a reason, keyed as sent (issue 17)
    unknown = {"dispute_id": "d-unknown", "resolution": "confirmed", "comment": "?"}
    h.send(topics.DISPUTE_RESPONSES, "rental", unknown)
    h.send(topics.DISPUTE_RESPONSES, "rental", {"dispute_id": "d-1", "resolution": "confirmed"})

    def answer_letters() -> list[tuple[bytes, dict[str, Any]]] | None:
        letters = [
            (key, value)
            for key, value in read_all(h.settings, topics.DEADLETTER)
            if value["source_topic"].endswith(topics.DISPUTE_RESPONSES)
        ]
        return letters if len(letters) >= 2 else None

    letters = h.wait(answer_letters, "the refused dispute answers as dead letters")
    assert [(k, v["reason_code"], v["field"]) for k, v in letters] == [
        (b"rental", "out_of_range", "dispute_id"),
        (b"rental", "schema", "comment"),
    ]
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
    on_topic = read_all(h.settings, topics.NOTICES)
    in_outbox = {i.value["notice_id"] for i in h.repo.outbox(topic=topics.NOTICES)}
    assert {v["notice_id"] for _, v in on_topic} == in_outbox
    assert all(key.decode() == v["pinfl"] for key, v in on_topic)
    settled = Counter(
        v["payment_id"]
        for _, v in read_all(h.settings, topics.PAYMENTS)
        if v["status"] == "succeeded"
    )
    assert len(settled) == sum(len(h.service.receipts(PEOPLE[n])) for n in NAMES)
    sent_disputes = read_all(h.settings, topics.DISPUTES)
    assert {v["dispute_id"] for _, v in sent_disputes} == {d.dispute_id for d in disputes.values()}
    assert all(key == b"rental" for key, _ in sent_disputes)
