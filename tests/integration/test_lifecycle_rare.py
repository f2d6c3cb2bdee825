"""The lifecycle's rarer money paths (issue 15) end to end: registry events ► real Kafka ►
the ledger and the lifecycle worker ► SQL, on SQLite and PostgreSQL, with the clock file
moving 2 February ► 20 February ► 2 March ► 25 March 2027.

=====  ==========================================================================
W      disputes a salary line its employer under-withheld: the undisputed part is the
       balance minus that line's tax net of the withholding; it is paid
X      disputes the employer's withholding (a credit): the whole balance waits
Y      a refund the gateway declines ► STC review; agreeing again is refused
Z      refunded, then the registry lowers the tuition: Z owes the difference back
V      disputes, then agrees after all: the dispute is withdrawn, the whole tax paid
U      disputes, the registry never answers ► review; a decision is refused there
L      a lease that ends on the day a rent period begins: that period counts
R      told on 2 March, the day of the 30-day reminder: no reminder that day
Q      told on 2 February: the 30-day reminder on 2 March (the timer's witness)
S      agreed on 2 February; the gateway settles the refund on 20 February, after its
       due day (17 February): the late-refund interest (Art 104) follows to the account
=====  ==========================================================================

The relinked chat (the first taxpayer's old buttons do nothing) does not cross Kafka:
tests/unit/notifier/test_bot.py pins it through PTB and the Bot API emulator.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from core.settings import Settings
from devtools.registries_mock.pinfl import make_pinfl
from devtools.registries_mock.publisher import close_year
from devtools.registries_mock.season import Event
from lifecycle.model import Refused
from tax import late_refund_interest, load_parameters, refund_due_date
from tests.integration import lifecycle_harness as support
from tests.integration.lifecycle_harness import RENT, TAX, YEAR, Harness

pytestmark = pytest.mark.integration

TENANT = make_pinfl(dt.date(1991, 6, 6), "M", 210, 2)
NAMES = "WXYZVULRQS"
PEOPLE = {name: make_pinfl(dt.date(1960 + i, 2 + i, 3 + i), "F", 150 + i, 30 + i) for i, name in
          enumerate(NAMES)}  # fmt: skip
EMPLOYER = "201234567"
LAW = load_parameters()
UNDER_WITHHELD = 20_000_000  # 96 000 000 due on the salary, 76 000 000 credited
RENT_LINE = {"code": "rental.income_individual_tenant", "reason_code": "wrong_amount",
             "comment": ""}  # fmt: skip


def lease(name: str, **kwargs: object) -> Event:
    return support.lease(PEOPLE[name], name, 50 + NAMES.index(name), TENANT, **kwargs)  # type: ignore[arg-type]


def under_withheld(name: str) -> Event:
    return support.salary(PEOPLE[name], name, withheld=75_200_000, employer=EMPLOYER)


@pytest.fixture
def harness(pipeline_settings: Settings, tmp_path: Path):
    overrides = {"Y": "decline", "S": "delay"}
    with support.running_lifecycle(pipeline_settings, tmp_path, PEOPLE, overrides) as h:
        yield h


def test_the_rare_money_paths(harness: Harness) -> None:
    h = harness
    h.publish(
        under_withheld("W"),
        lease("W"),
        under_withheld("X"),
        lease("X"),
        support.salary(PEOPLE["Y"], "Y"),
        support.tuition(PEOPLE["Y"], "Y"),
        support.salary(PEOPLE["Z"], "Z"),
        support.tuition(PEOPLE["Z"], "Z"),
        lease("V"),
        lease("U"),
        lease("L", start="2026-01-10", end="2026-03-10"),
        lease("R"),
        lease("Q"),
        support.salary(PEOPLE["S"], "S"),
        support.tuition(PEOPLE["S"], "S"),
    )
    asyncio.run(close_year(YEAR, h.settings, h.settings.topic_namespace))
    h.wait(lambda: all(h.state(n) == "computed" for n in NAMES), "every return computed")
    for name in NAMES.replace("R", ""):  # R is told only on 2 March
        h.ack(name)
    for name in NAMES.replace("R", ""):
        h.wait_state(name, "notified")

    # --- L: the lease ends on 10 March, the day its third period begins ------------------
    assert h.case("L").version.balance_tiyin == 3 * RENT * 12 // 100

    # --- W: the disputed salary line had tax withheld at source -------------------------------
    assert h.case("W").version.balance_tiyin == TAX + UNDER_WITHHELD
    salary_line = {"code": "employment.gross", "subject": EMPLOYER, "reason_code": "not_mine",
                   "comment": ""}  # fmt: skip
    h.decide("W", "disagree", lines=[salary_line])
    w = h.wait_state("W", "disputed")
    assert w.undisputed_tiyin == TAX  # not TAX + UNDER_WITHHELD - 96 000 000
    opened = h.notices("W")[-1]
    assert (opened["kind"], opened["details"]["undisputed_tiyin"]) == ("dispute_update", TAX)
    assert h.service.request_payment(PEOPLE["W"], YEAR, "portal").state == "disputed"
    h.wait(lambda: h.service.receipts(PEOPLE["W"], YEAR), "W's receipt")
    (w_paid,) = h.service.receipts(PEOPLE["W"], YEAR)
    assert (w_paid.kind, w_paid.amount_tiyin) == ("payment", TAX)
    assert h.state("W") == "disputed"

    # --- X: disputing a credit puts the whole balance in dispute ------------------------------
    credit_line = {"code": "employment.tax_withheld", "subject": EMPLOYER, "reason_code": "other",
                   "comment": "My employer withheld the full 12 %."}  # fmt: skip
    h.decide("X", "disagree", lines=[credit_line])
    x = h.wait_state("X", "disputed")
    assert x.undisputed_tiyin == 0
    with pytest.raises(Refused) as nothing:
        h.service.request_payment(PEOPLE["X"], YEAR, "portal")
    assert nothing.value.code == "nothing_to_pay"

    # --- Y: the gateway declines the refund: STC review; no second refund by agreeing -------
    h.decide("Y", "agree")
    y = h.wait_state("Y", "review")
    assert [p.status for p in y.payments] == ["declined"]
    assert h.service.receipts(PEOPLE["Y"]) == []
    with pytest.raises(Refused) as in_review:
        h.decide("Y", "agree", decision_id="dec-Y-again")
    assert in_review.value.code == "in_review" and "review" in in_review.value.message

    # --- Z: refunded, then the registry lowers the tuition: the difference is owed back ---------
    h.decide("Z", "agree")
    z = h.wait_state("Z", "refunded")
    refunded = -z.version.balance_tiyin
    assert refunded == 12_000_000
    h.publish(support.tuition(PEOPLE["Z"], "Z", amount=50_000_000, revision=2))
    z = h.wait_state("Z", "computed", version=2)
    amendment = h.notices("Z")[-1]
    assert (amendment["kind"], amendment["balance_tiyin"]) == ("amendment", 6_000_000)
    assert amendment["details"]["return_balance_tiyin"] == -6_000_000
    h.ack("Z", "amendment", 2)
    h.wait_state("Z", "notified", version=2)
    h.decide("Z", "agree", version=2)
    h.wait_state("Z", "paid", version=2)
    assert [(r.kind, r.amount_tiyin) for r in h.service.receipts(PEOPLE["Z"])] == [
        ("refund", 12_000_000),
        ("payment", 6_000_000),
    ]

    # --- V: agrees while the dispute is open: withdrawn, the whole tax paid ------------------
    h.decide("V", "disagree", lines=[RENT_LINE])
    h.wait_state("V", "disputed")
    h.decide("V", "agree")
    v = h.wait_state("V", "paid")
    assert [d.status for d in v.disputes] == ["withdrawn"]
    assert [r.amount_tiyin for r in h.service.receipts(PEOPLE["V"])] == [TAX]

    # --- U: the registry never answers: review; decisions are refused there -----------------
    h.decide("U", "disagree", lines=[RENT_LINE])
    h.wait_state("U", "disputed")
    h.decide("S", "agree")  # on 2 February; the gateway takes 8 s (wall) to settle
    s_case = h.wait_state("S", "refund_pending")
    (s_refund,) = s_case.payments
    h.at("2027-02-20")
    h.wait_state("U", "review")
    assert h.state("V") == "paid"  # V's withdrawn dispute went nowhere
    with pytest.raises(Refused) as refused:
        h.decide("U", "agree")
    assert refused.value.code == "in_review"
    result = h.raw_decision("U", "dec-U-raced")  # e.g. the portal, past the check
    assert (result.outcome, result.reason_code) == ("refused", "in_review")
    assert h.state("U") == "review" and h.service.receipts(PEOPLE["U"]) == []

    # --- S: the refund settled after its due day; the interest followed ----------------------
    h.wait_state("S", "refunded")
    due = refund_due_date(dt.date(2027, 2, 2), LAW)
    assert due == dt.date(2027, 2, 17)
    owed = late_refund_interest(s_refund.principal_tiyin, due, dt.date(2027, 2, 20), LAW)
    assert owed > 0
    paid = [(r.kind, r.principal_tiyin, r.interest_tiyin) for r in h.service.receipts(PEOPLE["S"])]
    assert paid == [("refund", 12_000_000, 0), ("refund", 0, owed)]
    interest_notice = h.notices("S")[-1]
    assert interest_notice["kind"] == "refund_notice"
    assert interest_notice["details"]["interest_tiyin"] == owed
    funnel = h.service.funnel(YEAR)
    assert funnel["refund_interest_paid_tiyin"] == owed
    assert funnel["interest_collected_tiyin"] == 0  # nobody paid late

    # --- R and Q: no reminder on the day the notice went out ---------------------------------
    h.at("2027-03-02")
    h.ack("R", on="2027-03-02")
    h.wait_state("R", "notified")
    h.wait(lambda: "reminder" in h.kinds("Q"), "Q's 30-day reminder")
    # The timer is done with R's 2 March once R waits for 25 March (the 7-day reminder);
    # a case that had a reminder due that day would have got it in the same transaction.
    h.wait(lambda: h.case("R").next_due_on == dt.date(2027, 3, 25), "R scheduled for 25 March")
    assert "reminder" not in h.kinds("R")
    h.at("2027-03-25")
    h.wait(lambda: "reminder" in h.kinds("R"), "R's 7-day reminder")
    reminders = [n["details"]["days"] for n in h.notices("R") if n["kind"] == "reminder"]
    assert reminders == [7]
    assert [n["details"]["days"] for n in h.notices("Q") if n["kind"] == "reminder"][:1] == [30]
