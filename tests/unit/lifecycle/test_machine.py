"""The return state machine, command by command, with no broker and no database."""

from __future__ import annotations

import datetime as dt

import pytest

from contracts.topics import DISPUTES, NOTICES, PAYMENTS
from lifecycle import ids
from lifecycle.machine import Machine
from lifecycle.model import TRANSITIONS, Case, CommandResult, IllegalTransition, Refused, State
from tax import late_payment_interest, load_parameters
from tests.unit.lifecycle.factories import (
    RETURN_ID,
    TAX,
    at,
    decision,
    landlord,
    machine,
    nil,
    salaried,
    sent,
)


def notices(out: CommandResult) -> list[dict]:
    return [dict(m.value) for m in out.messages if m.topic == NOTICES]


def kinds(out: CommandResult) -> list[str]:
    return [n["kind"] for n in notices(out)]


def states(out: CommandResult) -> list[tuple[str | None, str | None]]:
    return [
        (None if a.from_state is None else str(a.from_state), str(a.to_state))
        for a in out.audit
        if a.from_state != a.to_state
    ]


def notified(m: Machine, value: dict, day: str = "2027-02-02") -> Case:
    out = m.on_version(None, value, at(day))
    case = out.case
    assert case is not None
    m.on_notification(case, sent(ids.notice_id("first_notice", RETURN_ID, 1)), at(day, 11))
    assert case.state == State.NOTIFIED
    return case


def amendment_sent(version: int) -> dict:
    return sent(ids.notice_id("amendment", RETURN_ID, version), "amendment", version)


def settle(
    m: Machine, case: Case, status: str = "succeeded", day: str = "2027-02-04"
) -> CommandResult:
    (payment,) = case.pending_payments
    return m.on_settlement(case, payment.payment_id, status, at(day), "gateway:stub")


# --- computed, nothing due, notified, viewed --------------------------------------------


def test_a_new_return_is_computed_and_a_first_notice_is_queued() -> None:
    out = machine().on_version(None, landlord(), at("2027-02-01"))
    assert out.case is not None and out.case.state == State.COMPUTED
    assert states(out) == [(None, "computed")]
    (notice,) = notices(out)
    assert notice["notice_id"] == f"first_notice:{RETURN_ID}:1"
    assert (notice["kind"], notice["deadline"], notice["balance_tiyin"]) == (
        "first_notice",
        "2027-04-01",
        TAX,
    )


def test_nothing_due_gets_no_notice() -> None:
    out = machine().on_version(None, nil(), at("2027-02-01"))
    assert out.case is not None and out.case.state == State.NOTHING_DUE
    assert states(out) == [(None, "computed"), ("computed", "nothing_due")]
    assert notices(out) == []
    assert out.case.next_due_on is None


def test_a_replayed_version_is_a_no_op() -> None:
    m = machine()
    case = m.on_version(None, landlord(), at("2027-02-01")).case
    again = m.on_version(case, landlord(), at("2027-02-01"))
    assert not again.changed and again.messages == []


def test_delivery_of_the_first_notice_notifies_and_other_deliveries_do_not() -> None:
    m = machine()
    case = m.on_version(None, landlord(), at("2027-02-01")).case
    assert case is not None
    stray = sent(ids.notice_id("first_notice", RETURN_ID, 7))
    assert not m.on_notification(case, stray, at("2027-02-02")).changed
    failed = dict(sent(ids.notice_id("first_notice", RETURN_ID, 1)), status="temporary_failure")
    assert not m.on_notification(case, failed, at("2027-02-02")).changed
    first = sent(ids.notice_id("first_notice", RETURN_ID, 1))
    out = m.on_notification(case, first, at("2027-02-02"))
    assert states(out) == [("computed", "notified")]
    assert case.notified_on == dt.date(2027, 2, 2)


def test_a_view_moves_notified_to_viewed_once() -> None:
    m = machine()
    case = notified(m, landlord())
    out = m.on_view(case, 1, "portal", at("2027-02-03"))
    assert states(out) == [("notified", "viewed")]
    assert out.audit[0].actor == "taxpayer:portal"
    assert states(m.on_view(case, 1, "telegram", at("2027-02-03"))) == []


def test_a_view_of_an_old_version_is_refused() -> None:
    m = machine()
    case = notified(m, landlord())
    m.on_version(case, landlord(2, rent=2 * 1_000_000_000), at("2027-02-03"))
    with pytest.raises(Refused) as refused:
        m.on_view(case, 1, "portal", at("2027-02-03"))
    assert (refused.value.code, refused.value.current_version) == ("superseded_version", 2)


# --- agree, pay, refund -------------------------------------------------------------------


def test_agree_pays_and_the_receipt_carries_the_reproducibility_hash() -> None:
    m = machine()
    case = notified(m, landlord())
    out = m.on_decision(case, decision("agree"), at("2027-02-03"))
    assert states(out) == [("notified", "agreed"), ("agreed", "payment_pending")]
    (payment,) = case.pending_payments
    assert out.gateway_calls == [payment.payment_id]
    assert payment.idempotency_key == f"{RETURN_ID}:1"
    assert payment.amount_tiyin == TAX
    pending = [m.value for m in out.messages if m.topic == PAYMENTS]
    assert [p["status"] for p in pending] == ["pending"]
    assert out.decision is not None and out.decision.outcome == "applied"

    done = settle(m, case)
    assert states(done) == [("payment_pending", "paid")]
    (receipt,) = notices(done)
    assert receipt["kind"] == "payment_receipt"
    assert receipt["details"]["reproducibility_hash"] == landlord()["reproducibility_hash"]
    assert receipt["details"]["receipt_id"] == payment.payment_id
    assert [m.value["status"] for m in done.messages if m.topic == PAYMENTS] == ["succeeded"]
    assert case.paid_net_tiyin == TAX and case.outstanding_tiyin == 0
    assert not m.on_settlement(case, payment.payment_id, "succeeded", at("2027-02-05"), "x").changed


def test_a_declined_payment_can_be_paid_again_with_a_new_key() -> None:
    m = machine()
    case = notified(m, landlord())
    m.on_decision(case, decision("agree"), at("2027-02-03"))
    out = settle(m, case, "declined")
    assert states(out) == [("payment_pending", "agreed")]
    assert kinds(out) == ["payment_due_reminder"]
    assert notices(out)[0]["details"]["payment_declined"] is True
    retry = m.on_payment_request(case, "portal", at("2027-02-05"))
    assert states(retry) == [("agreed", "payment_pending")]
    assert case.pending_payments[0].idempotency_key == f"{RETURN_ID}:1:2"
    settle(m, case)
    assert case.state == State.PAID
    with pytest.raises(Refused) as refused:
        m.on_payment_request(case, "portal", at("2027-02-06"))
    assert refused.value.code == "nothing_to_pay"


def test_agree_on_a_refund_pays_it_to_the_account_on_file() -> None:
    m = machine()
    case = notified(m, salaried())
    out = m.on_decision(case, decision("agree"), at("2027-02-03"))
    assert states(out) == [("notified", "agreed"), ("agreed", "refund_pending")]
    (refund,) = case.pending_payments
    assert (refund.kind, refund.amount_tiyin) == ("refund", 30_000_000)
    done = m.on_settlement(
        case, refund.payment_id, "succeeded", at("2027-02-04"), "gateway:stub",
        account_ref="8600 **** **** 1234",
    )  # fmt: skip
    assert states(done) == [("refund_pending", "refunded")]
    (notice,) = notices(done)
    assert notice["kind"] == "refund_notice"
    assert notice["details"]["account_ref"] == "8600 **** **** 1234"


def test_a_nothing_due_return_can_be_agreed_without_money() -> None:
    m = machine()
    case = m.on_version(None, nil(), at("2027-02-01")).case
    out = m.on_decision(case, decision("agree"), at("2027-02-03"))
    assert states(out) == [("nothing_due", "agreed")]
    assert out.gateway_calls == []


# --- decisions: duplicates, outdated versions, bad lines ----------------------------------


def test_a_repeated_identical_decision_is_a_no_op() -> None:
    m = machine()
    case = notified(m, landlord())
    m.on_decision(case, decision("agree"), at("2027-02-03"))
    again = m.on_decision(case, decision("agree", channel="portal"), at("2027-02-03"))
    assert again.decision is not None and again.decision.outcome == "duplicate"
    assert again.audit == [] and again.messages == [] and again.gateway_calls == []
    assert len(case.payments) == 1


def test_a_decision_on_a_superseded_version_is_refused_and_the_current_one_offered() -> None:
    m = machine()
    case = notified(m, landlord())
    m.on_version(case, landlord(2, rent=1_500_000_000), at("2027-02-03"))
    out = m.on_decision(case, decision("agree", version=1), at("2027-02-04"))
    assert out.decision is not None
    assert (out.decision.outcome, out.decision.reason_code, out.decision.current_version) == (
        "refused",
        "superseded_version",
        2,
    )
    assert "version 2" in out.decision.reason
    assert case.state == State.COMPUTED and case.payments == []
    assert [a.event for a in out.audit] == ["decision_refused"]


@pytest.mark.parametrize(
    ("lines", "code"),
    [
        ([{"code": "tax.general", "reason_code": "other", "comment": ""}], "line_not_disputable"),
        ([{"code": "dividend.gross", "reason_code": "not_mine", "comment": ""}], "unknown_line"),
        ([], "no_lines"),
    ],
)
def test_a_disagreement_with_bad_lines_is_refused(lines: list, code: str) -> None:
    m = machine()
    case = notified(m, landlord())
    out = m.on_decision(case, decision("disagree", lines=lines), at("2027-02-03"))
    assert out.decision is not None and (out.decision.outcome, out.decision.reason_code) == (
        "refused",
        code,
    )
    assert case.state == State.NOTIFIED


def test_a_disagreement_after_payment_is_refused() -> None:
    m = machine()
    case = notified(m, landlord())
    m.on_decision(case, decision("agree"), at("2027-02-03"))
    settle(m, case)
    line = {"code": "rental.income_individual_tenant", "reason_code": "wrong_amount", "comment": ""}
    out = m.on_decision(case, decision("disagree", lines=[line]), at("2027-02-05"))
    assert out.decision is not None and out.decision.reason_code == "already_settled"


# --- disputes -----------------------------------------------------------------------------

RENT_LINE = {
    "code": "rental.income_individual_tenant",
    "reason_code": "wrong_amount",
    "comment": "The rent was 8 000 000 soum.",
}


def test_disagree_opens_a_dispute_per_source_record_with_ten_working_days() -> None:
    m = machine()
    case = notified(m, landlord())
    out = m.on_decision(case, decision("disagree", lines=[RENT_LINE]), at("2027-02-03"))
    assert states(out) == [("notified", "disagreed"), ("disagreed", "disputed")]
    (dispute,) = [msg for msg in out.messages if msg.topic == DISPUTES]
    assert dispute.key == "rental"
    assert dispute.value["record_id"] == "LEASE-1" and dispute.value["revision"] == 1
    assert dispute.value["reason_code"] == "wrong_amount"
    # Wednesday 3 February 2027 + 10 working days = Wednesday 17 February.
    assert dispute.value["respond_by"] == "2027-02-17"
    assert kinds(out) == ["dispute_update"]
    # The whole balance comes from the disputed rent: nothing is undisputed.
    assert case.undisputed_tiyin == 0
    again = m.on_decision(case, decision("disagree", lines=[RENT_LINE]), at("2027-02-04"))
    assert again.decision is not None and again.decision.outcome == "duplicate"


def test_the_undisputed_part_stays_payable() -> None:
    m = machine()
    value = landlord()
    value["lines"].insert(
        0,
        {
            "code": "dividend.gross",
            "subject": "300000001",
            "amount_tiyin": 200_000_000,
            "legal_reference": "Art 375",
            "sources": [{"registry": "dividend", "record_id": "DIV-1", "revision": 1}],
        },
    )
    value["totals"]["balance_tiyin"] = TAX + 10_000_000  # 5 % of the dividend, not withheld
    case = notified(m, value)
    dividend = {"code": "dividend.gross", "reason_code": "not_mine", "comment": ""}
    m.on_decision(case, decision("disagree", lines=[dividend]), at("2027-02-03"))
    assert case.state == State.DISPUTED
    assert case.undisputed_tiyin == TAX
    out = m.on_payment_request(case, "portal", at("2027-02-04"))
    assert states(out) == []  # still disputed
    (payment,) = case.pending_payments
    assert payment.amount_tiyin == TAX
    settle(m, case, day="2027-02-05")
    assert case.state == State.DISPUTED and case.paid_net_tiyin == TAX


def test_registry_confirms_back_to_the_taxpayer_and_a_second_disagreement_goes_to_review() -> None:
    m = machine()
    case = notified(m, landlord())
    m.on_decision(case, decision("disagree", lines=[RENT_LINE]), at("2027-02-03"))
    (dispute,) = case.disputes
    out = m.on_dispute_confirmed(case, dispute.dispute_id, "Contract says so.", at("2027-02-08"))
    assert states(out) == [("disputed", "notified")]
    assert kinds(out) == ["dispute_update"]
    assert notices(out)[0]["details"]["event"] == "confirmed"
    assert not m.on_dispute_confirmed(case, dispute.dispute_id, "again", at("2027-02-09")).changed
    again = dict(RENT_LINE, comment="Still wrong.")
    out = m.on_decision(case, decision("disagree", lines=[again]), at("2027-02-10"))
    assert states(out) == [("notified", "disagreed"), ("disagreed", "review")]
    assert case.disputes[0].status == "escalated"


def test_registry_corrects_a_new_version_closes_the_dispute_and_re_notifies() -> None:
    m = machine()
    case = notified(m, landlord())
    m.on_decision(case, decision("disagree", lines=[RENT_LINE]), at("2027-02-03"))
    out = m.on_version(case, landlord(2, rent=800_000_000, revision=2), at("2027-02-09"))
    assert states(out) == [("disputed", "computed")]
    assert case.disputes[0].status == "corrected"
    (notice,) = notices(out)
    assert notice["kind"] == "amendment" and notice["balance_tiyin"] == 96_000_000
    assert notice["details"]["changed_lines"] == 4
    assert (
        "rental.income_individual_tenant[CN-1]: 1000000000 -> 800000000"
        in (notice["details"]["changes"])
    )
    changes = out.audit[-1].details["changes"]
    assert changes[0]["because"] == ["rental/LEASE-1 r1->r2"]
    m.on_notification(case, amendment_sent(2), at("2027-02-10"))
    assert case.state == State.NOTIFIED


def test_an_unanswered_dispute_goes_to_the_review_queue() -> None:
    m = machine()
    case = notified(m, landlord())
    m.on_decision(case, decision("disagree", lines=[RENT_LINE]), at("2027-02-03"))
    assert case.next_due_on == dt.date(2027, 2, 18)
    assert states(m.on_tick(case, at("2027-02-17"))) == []
    out = m.on_tick(case, at("2027-02-18"))
    assert states(out) == [("disputed", "review")]
    assert case.disputes[0].status == "unanswered"
    late = m.on_dispute_confirmed(case, case.disputes[0].dispute_id, "late", at("2027-02-20"))
    assert states(late) == [("review", "notified")]


# --- amendments after payment ---------------------------------------------------------------


def paid(m: Machine) -> Case:
    case = notified(m, landlord())
    m.on_decision(case, decision("agree"), at("2027-02-03"))
    settle(m, case)
    assert case.state == State.PAID
    return case


def test_an_amendment_after_payment_that_grows_asks_for_the_difference() -> None:
    m = machine()
    case = paid(m)
    out = m.on_version(case, landlord(2, rent=1_500_000_000, revision=2), at("2027-03-01"))
    assert states(out) == [("paid", "computed")]
    (notice,) = notices(out)
    assert (notice["kind"], notice["balance_tiyin"]) == ("amendment", 60_000_000)
    m.on_notification(case, amendment_sent(2), at("2027-03-02"))
    m.on_decision(case, decision("agree", version=2), at("2027-03-03"))
    (payment,) = case.pending_payments
    assert (payment.amount_tiyin, payment.idempotency_key) == (60_000_000, f"{RETURN_ID}:2")
    settle(m, case, day="2027-03-04")
    assert case.state == State.PAID and case.paid_net_tiyin == 180_000_000


def test_an_amendment_after_payment_that_shrinks_refunds_the_excess_unasked() -> None:
    m = machine()
    case = paid(m)
    out = m.on_version(case, landlord(2, rent=600_000_000, revision=2), at("2027-03-01"))
    assert states(out) == [("paid", "refund_pending")]
    (refund,) = case.pending_payments
    assert (refund.kind, refund.amount_tiyin) == ("refund", 48_000_000)
    assert out.gateway_calls == [refund.payment_id]
    assert kinds(out) == ["amendment"]
    done = settle(m, case, day="2027-03-02")
    assert states(done) == [("refund_pending", "refunded")]
    assert case.paid_net_tiyin == 72_000_000 and case.outstanding_tiyin == 0


def test_a_new_version_while_a_payment_is_in_flight_is_settled_against_it() -> None:
    m = machine()
    case = notified(m, landlord())
    m.on_decision(case, decision("agree"), at("2027-02-03"))
    out = m.on_version(case, landlord(2, rent=500_000_000, revision=2), at("2027-02-03", 11))
    assert states(out) == [] and case.state == State.PAYMENT_PENDING
    assert kinds(out) == ["amendment"]
    done = settle(m, case)
    assert states(done) == [("payment_pending", "refund_pending")]
    assert case.pending_payments[0].amount_tiyin == 60_000_000


# --- the timer: reminders and overdue -------------------------------------------------------


def test_reminders_30_7_1_days_before_1_april_once_each() -> None:
    m = machine()
    case = notified(m, landlord(), day="2027-02-02")
    assert case.next_due_on == dt.date(2027, 3, 2)
    sent_kinds = []
    day = dt.date(2027, 2, 3)
    while day <= dt.date(2027, 4, 1):
        out = m.on_tick(case, at(day.isoformat()))
        sent_kinds += [(day.isoformat(), n["kind"], n["details"]["days"]) for n in notices(out)]
        day += dt.timedelta(days=1)
    reminders = [s for s in sent_kinds if s[1] == "reminder"]
    assert reminders == [
        ("2027-03-02", "reminder", 30),
        ("2027-03-25", "reminder", 7),
        ("2027-03-31", "reminder", 1),
    ]


def test_a_late_notice_skips_the_reminders_it_made_redundant() -> None:
    m = machine()
    case = notified(m, landlord(), day="2027-03-20")
    out = m.on_tick(case, at("2027-03-28"))  # a worker down since before the 7-day mark
    assert [(n["kind"], n["details"]["days"]) for n in notices(out)] == [("reminder", 7)]
    assert case.next_due_on == dt.date(2027, 3, 31)


def test_overdue_after_the_payment_deadline_with_interest() -> None:
    m = machine()
    case = notified(m, landlord())
    assert m.on_tick(case, at("2027-06-01")).audit == []
    out = m.on_tick(case, at("2027-06-10"))
    assert states(out) == [("notified", "overdue")]
    expected = late_payment_interest(
        TAX, dt.date(2027, 6, 1), dt.date(2027, 6, 10), load_parameters()
    )
    assert expected > 0
    (notice,) = notices(out)
    assert notice["kind"] == "overdue" and notice["details"]["interest_tiyin"] == expected
    assert case.overdue_since == dt.date(2027, 6, 2)
    assert m.on_tick(case, at("2027-06-11")).messages == []
    m.on_decision(case, decision("agree"), at("2027-06-10"))
    (payment,) = case.pending_payments
    assert (payment.principal_tiyin, payment.interest_tiyin) == (TAX, expected)
    settle(m, case, day="2027-06-10")
    assert case.state == State.PAID and case.outstanding_tiyin == 0


# --- the table itself -------------------------------------------------------------------------


def test_an_illegal_transition_is_a_typed_error() -> None:
    m = machine()
    case = paid(m)
    with pytest.raises(IllegalTransition) as error:
        m.transition(case, State.VIEWED, "viewed", "test", at("2027-03-01"))
    assert (error.value.from_state, error.value.to_state) == (State.PAID, State.VIEWED)


def test_every_state_is_reachable_and_has_a_way_out() -> None:
    targets = {t for ts in TRANSITIONS.values() for t in ts}
    assert targets == set(State)
    for state in State:
        assert TRANSITIONS[state], state
