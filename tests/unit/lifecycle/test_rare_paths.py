"""The lifecycle's rarer money paths (issue 15), one test each, pure (no broker, no
database). tests/integration/test_lifecycle_rare.py runs the same paths through Kafka."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from lifecycle.machine import Machine
from lifecycle.model import Case, CommandResult, Refused, State
from tax import late_refund_interest, load_parameters
from tests.unit.lifecycle.factories import (
    RENT,
    RETURN_ID,
    TAX,
    at,
    decision,
    landlord,
    line,
    machine,
    salaried,
    value,
)
from tests.unit.lifecycle.test_machine import (
    amendment_sent,
    kinds,
    notices,
    notified,
    settle,
    states,
)

EMPLOYER = "200000001"
GROSS = 1_000_000_000  # 10 000 000 soum of salary: 12 % = 120 000 000 tiyin
WITHHELD = 99_200_000  # the employer withheld less than the tax ...
INPS = 800_000  # ... and the INPS offset: 100 000 000 credited in all
UNDER_WITHHELD = GROSS * 12 // 100 - WITHHELD - INPS  # 20 000 000 still owed on the salary
RENT_LINE = {"code": "rental.income_individual_tenant", "reason_code": "wrong_amount"}
LAW = load_parameters()


def salary_and_rent() -> dict[str, Any]:
    """Salary under-withheld by its employer plus rent from an individual tenant."""
    pay = [("payroll", "PAY-1", 1)]
    lease = [("rental", "LEASE-1", 1)]
    return value(
        1,
        balance=TAX + UNDER_WITHHELD,
        declaration_required=True,
        lines=[
            line("employment.gross", GROSS, pay, subject=EMPLOYER),
            line("employment.tax_withheld", WITHHELD, pay, subject=EMPLOYER),
            line("employment.inps_offset", INPS, pay, subject=EMPLOYER),
            line("rental.income_individual_tenant", RENT, lease, subject="CN-1"),
            line("base.general", GROSS + RENT, pay + lease),
            line("tax.general", (GROSS + RENT) * 12 // 100, pay + lease),
            line("credit.withheld", WITHHELD + INPS, pay),
            line("result.payable", TAX + UNDER_WITHHELD, pay + lease),
        ],
        digest="a" * 64,
    )


def disputed(m: Machine, code: str) -> tuple[Case, CommandResult]:
    case = notified(m, salary_and_rent())
    item = {"code": code, "subject": EMPLOYER, "reason_code": "wrong_amount", "comment": ""}
    out = m.on_decision(case, decision("disagree", lines=[item]), at("2027-02-03"))
    assert case.state == State.DISPUTED
    return case, out


def test_the_undisputed_part_nets_the_withholding_of_the_disputed_line() -> None:
    """Disputing a salary line can remove at most its tax net of what the employer withheld
    (and the INPS offset): the rent's tax and nothing of the salary's stays payable."""
    m = machine()
    case, out = disputed(m, "employment.gross")
    assert case.undisputed_tiyin == TAX
    (opened,) = notices(out)
    assert opened["details"]["undisputed_tiyin"] == TAX
    m.on_payment_request(case, "portal", at("2027-02-04"))
    (payment,) = case.pending_payments
    assert (payment.principal_tiyin, payment.amount_tiyin) == (TAX, TAX)
    settle(m, case, day="2027-02-05")
    assert case.state == State.DISPUTED and case.undisputed_outstanding_tiyin == 0


@pytest.mark.parametrize(
    "code", ["employment.tax_withheld", "employment.inps_offset", "rental.tax_withheld"]
)
def test_disputing_a_credit_or_exemption_puts_the_whole_balance_in_dispute(code: str) -> None:
    m = machine()
    if code == "rental.tax_withheld":  # a credit line of a lease
        case = notified(m, with_rental_withholding())
        item = {"code": code, "subject": "CN-1", "reason_code": "already_paid", "comment": ""}
        m.on_decision(case, decision("disagree", lines=[item]), at("2027-02-03"))
    else:
        case, _ = disputed(m, code)
    assert case.state == State.DISPUTED and case.undisputed_tiyin == 0
    with pytest.raises(Refused) as refused:
        m.on_payment_request(case, "portal", at("2027-02-04"))
    assert refused.value.code == "nothing_to_pay"
    # Nothing is payable meanwhile: no payment reminder, and no overdue after 1 June.
    day, sent_kinds = dt.date(2027, 2, 5), []
    while day <= dt.date(2027, 6, 10):
        sent_kinds += kinds(m.on_tick(case, at(day.isoformat())))
        day += dt.timedelta(days=10)
    assert "payment_due_reminder" not in sent_kinds and "overdue" not in sent_kinds


def with_rental_withholding() -> dict[str, Any]:
    lease = [("rental", "LEASE-1", 1)]
    withheld = TAX // 2  # the tenant withheld half
    return value(
        1,
        balance=TAX - withheld,
        declaration_required=False,
        lines=[
            line("rental.income_legal_entity_tenant", RENT, lease, subject="CN-1"),
            line("rental.tax_withheld", withheld, lease, subject="CN-1"),
            line("base.general", RENT, lease),
            line("tax.general", TAX, lease),
            line("credit.withheld", withheld, lease),
            line("result.payable", TAX - withheld, lease),
        ],
        digest="b" * 64,
    )


@pytest.mark.parametrize("status", ["declined", "failed"])
def test_a_refund_the_gateway_declines_or_fails_goes_to_stc_review(status: str) -> None:
    m = machine()
    case = notified(m, salaried())
    m.on_decision(case, decision("agree"), at("2027-02-03"))
    (refund,) = case.pending_payments
    out = settle(m, case, status)
    assert states(out) == [("refund_pending", "review")]
    assert refund.status == status and case.pending_payments == []
    assert out.gateway_calls == []  # not retried blindly to the same account
    assert case.paid_net_tiyin == 0 and case.outstanding_tiyin == -30_000_000
    assert kinds(out) == []  # no refund notice for money that did not move


def test_an_amendment_after_a_refund_was_paid_asks_for_the_difference_back() -> None:
    m = machine()
    case = notified(m, salaried(refund=30_000_000))
    m.on_decision(case, decision("agree"), at("2027-02-03"))
    settle(m, case)
    assert case.state == State.REFUNDED and case.paid_net_tiyin == -30_000_000
    out = m.on_version(case, salaried(2, refund=10_000_000), at("2027-03-01"))
    assert states(out) == [("refunded", "computed")]
    assert out.gateway_calls == []  # no refund and no charge without the taxpayer
    (notice,) = notices(out)
    assert (notice["kind"], notice["balance_tiyin"]) == ("amendment", 20_000_000)
    assert notice["details"]["return_balance_tiyin"] == -10_000_000
    m.on_notification(case, amendment_sent(2), at("2027-03-02"))
    m.on_decision(case, decision("agree", version=2), at("2027-03-03"))
    (payment,) = case.pending_payments
    assert (payment.kind, payment.amount_tiyin) == ("payment", 20_000_000)
    assert payment.idempotency_key == f"{RETURN_ID}:2"
    settle(m, case, day="2027-03-04")
    assert case.state == State.PAID and case.paid_net_tiyin == -10_000_000
    assert case.outstanding_tiyin == 0


def test_agreeing_while_a_dispute_is_open_withdraws_it_and_charges_the_whole_balance() -> None:
    m = machine()
    case = notified(m, landlord())
    m.on_decision(case, decision("disagree", lines=[RENT_LINE]), at("2027-02-03"))
    assert case.state == State.DISPUTED and case.undisputed_tiyin == 0
    out = m.on_decision(case, decision("agree"), at("2027-02-04"))
    assert out.decision is not None and out.decision.outcome == "applied"
    assert states(out) == [("disputed", "agreed"), ("agreed", "payment_pending")]
    (dispute,) = case.disputes
    assert dispute.status == "withdrawn"
    assert [a.event for a in out.audit if a.ref == dispute.dispute_id] == ["dispute_withdrawn"]
    (payment,) = case.pending_payments
    assert payment.amount_tiyin == TAX
    assert case.undisputed_tiyin is None
    settle(m, case, day="2027-02-05")
    # The registry's silence after respond_by no longer sends anything to review.
    late = m.on_tick(case, at("2027-02-20"))
    assert states(late) == [] and case.state == State.PAID and dispute.status == "withdrawn"


def in_review(m: Machine) -> Case:
    case = notified(m, landlord())
    m.on_decision(case, decision("disagree", lines=[RENT_LINE]), at("2027-02-03"))
    m.on_tick(case, at("2027-02-18"))
    assert case.state == State.REVIEW
    return case


@pytest.mark.parametrize("choice", ["agree", "disagree"])
def test_a_decision_while_in_stc_review_is_refused_with_a_clear_message(choice: str) -> None:
    m = machine()
    case = in_review(m)
    lines = [dict(RENT_LINE, comment="again")] if choice == "disagree" else None
    verdict = m.judge(case, decision(choice, lines=lines))
    assert (verdict.outcome, verdict.code) == ("refuse", "in_review")
    assert "review" in verdict.message and "Tax Committee" in verdict.message
    out = m.on_decision(case, decision(choice, lines=lines), at("2027-02-19"))
    assert out.decision is not None
    assert (out.decision.outcome, out.decision.reason_code) == ("refused", "in_review")
    assert states(out) == [] and out.gateway_calls == [] and out.messages == []
    assert [a.event for a in out.audit] == ["decision_refused"]
    assert case.state == State.REVIEW


def test_a_failed_refund_in_review_is_not_agreed_into_a_second_refund() -> None:
    m = machine()
    case = notified(m, salaried())
    m.on_decision(case, decision("agree"), at("2027-02-03"))
    settle(m, case, "failed")
    assert case.state == State.REVIEW
    out = m.on_decision(case, decision("agree"), at("2027-02-05"))
    assert out.decision is not None and out.decision.reason_code == "in_review"
    assert out.gateway_calls == [] and case.state == State.REVIEW


def test_no_reminder_on_the_day_the_notice_went_out() -> None:
    """Told on 2 March (30 days before 1 April): the 30-day reminder would repeat the
    notice that same day, so only the 7- and 1-day reminders follow."""
    m = machine()
    case = notified(m, landlord(), day="2027-03-02")
    sent_on = collect(m, case, dt.date(2027, 3, 2), dt.date(2027, 4, 1), "reminder")
    assert sent_on == [("2027-03-25", 7), ("2027-03-31", 1)]


def test_no_payment_reminder_on_the_day_an_amendment_went_out() -> None:
    """An amendment delivered on 2 May (30 days before 1 June) is the payment reminder
    of that day: the next one is 7 days before the deadline."""
    m = machine()
    case = notified(m, landlord())
    m.on_version(case, landlord(2, rent=RENT * 2, revision=2), at("2027-05-02", 8))
    m.on_notification(case, amendment_sent(2), at("2027-05-02", 9))
    assert case.notified_on == dt.date(2027, 5, 2)
    sent_on = collect(m, case, dt.date(2027, 5, 2), dt.date(2027, 6, 1), "payment_due_reminder")
    assert sent_on == [("2027-05-25", 7), ("2027-05-31", 1)]


def collect(m: Machine, case: Case, first: dt.date, last: dt.date, kind: str) -> list:
    """Tick twice a day (the notice's hour and later) and keep the ``kind`` notices."""
    found, day = [], first
    while day <= last:
        for hour in (9, 18):
            out = m.on_tick(case, at(day.isoformat(), hour))
            found += [(day.isoformat(), n["details"]["days"]) for n in notices(out)
                      if n["kind"] == kind]  # fmt: skip
        day += dt.timedelta(days=1)
    return found


# --- late-refund interest (Tax Code Art 104) ---------------------------------------------


def test_a_refund_settled_after_its_due_day_is_followed_by_its_interest() -> None:
    """Agreed on 3 February: the refund is due by 18 February. The gateway settles it on
    25 February: 7 days of interest go to the same account at once, then refunded."""
    m = machine()
    case = notified(m, salaried(refund=30_000_000))
    m.on_decision(case, decision("agree"), at("2027-02-03"))
    assert m.refund_due_on(case, 1) == dt.date(2027, 2, 18)
    out = settle(m, case, day="2027-02-25")
    assert states(out) == [] and case.state == State.REFUND_PENDING
    (top_up,) = case.pending_payments
    owed = late_refund_interest(30_000_000, dt.date(2027, 2, 18), dt.date(2027, 2, 25), LAW)
    assert owed > 0
    assert (top_up.kind, top_up.principal_tiyin, top_up.interest_tiyin) == ("refund", 0, owed)
    assert out.gateway_calls == [top_up.payment_id]
    assert [n["details"]["interest_tiyin"] for n in notices(out)] == [0]
    done = settle(m, case, day="2027-02-25")
    assert states(done) == [("refund_pending", "refunded")]
    (notice,) = notices(done)
    assert notice["kind"] == "refund_notice"
    assert (notice["details"]["amount_tiyin"], notice["details"]["interest_tiyin"]) == (owed, owed)
    assert case.paid_net_tiyin == -30_000_000 and case.outstanding_tiyin == 0


def test_a_refund_settled_on_its_due_day_bears_no_interest() -> None:
    m = machine()
    case = notified(m, salaried(refund=30_000_000))
    m.on_decision(case, decision("agree"), at("2027-02-03"))
    out = settle(m, case, day="2027-02-18")
    assert states(out) == [("refund_pending", "refunded")] and case.pending_payments == []
