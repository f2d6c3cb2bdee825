"""returns.v1 values and decisions for lifecycle unit tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.clock import TASHKENT
from lifecycle import ids
from lifecycle.machine import Machine
from lifecycle.rules.common import Policy
from tax import load_parameters

PINFL = "31501901230014"
YEAR = 2026
RETURN_ID = "4f33dca5-1e25-501b-a92c-0ba395469e71"
RENT = 1_000_000_000  # 10 000 000 soum of rent from an individual tenant
TAX = 120_000_000  # 12 %


def at(day: str, hour: int = 10) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=TASHKENT)


def machine(**policy: Any) -> Machine:
    return Machine(Policy(parameters=load_parameters(), **policy))


def line(
    code: str, amount: int, sources: list[tuple[str, str, int]] = (), subject: str = ""
) -> dict[str, Any]:
    return {
        "code": code,
        "subject": subject,
        "amount_tiyin": amount,
        "legal_reference": "Tax Code",
        "sources": [{"registry": r, "record_id": i, "revision": v} for r, i, v in sources],
    }


def landlord(version: int = 1, rent: int = RENT, revision: int = 1) -> dict[str, Any]:
    """Rent from an individual tenant: declaration required, 12 % payable."""
    tax = rent * 12 // 100
    src = [("rental", "LEASE-1", revision)]
    return value(
        version,
        balance=tax,
        declaration_required=True,
        lines=[
            line("rental.income_individual_tenant", rent, src, subject="CN-1"),
            line("base.general", rent, src),
            line("tax.general", tax, src),
            line("result.payable", tax, src),
        ],
        digest=f"{rent:064x}"[-64:],
    )


def salaried(version: int = 1, refund: int = 30_000_000) -> dict[str, Any]:
    """A salary with tuition paid: a refund, no declaration required."""
    pay = [("payroll", f"PAY-{m}", 1) for m in range(1, 4)]
    return value(
        version,
        balance=-refund,
        declaration_required=False,
        lines=[
            line("employment.gross", 3_000_000_000, pay, subject="200000001"),
            line("employment.tax_withheld", 360_000_000, pay, subject="200000001"),
            line("exempt_use.tuition", refund * 100 // 12, [("deduction", "TUI-1", 1)]),
            line("result.refund", refund, pay),
        ],
        digest=f"{refund + version:064x}"[-64:],
    )


def nil(version: int = 1) -> dict[str, Any]:
    pay = [("payroll", "PAY-1", 1)]
    return value(
        version,
        balance=0,
        declaration_required=False,
        lines=[
            line("employment.gross", 100_000_000, pay, subject="200000001"),
            line("result.nil", 0, pay),
        ],
        digest="0" * 64,
    )


def value(
    version: int,
    *,
    balance: int,
    declaration_required: bool,
    lines: list[dict[str, Any]],
    digest: str,
) -> dict[str, Any]:
    return {
        "return_id": RETURN_ID,
        "pinfl": PINFL,
        "tax_year": YEAR,
        "version": version,
        "computed_at": "2027-02-01T09:00:00+05:00",
        "rules_version": "test",
        "reproducibility_hash": digest,
        "declaration_required": declaration_required,
        "totals": {
            "gross_income_tiyin": 0,
            "exempt_income_tiyin": 0,
            "taxable_income_tiyin": 0,
            "tax_computed_tiyin": max(balance, 0),
            "tax_credited_tiyin": 0,
            "balance_tiyin": balance,
        },
        "deadlines": {"declaration": "2027-04-01", "payment": "2027-06-01"},
        "lines": lines,
    }


def decision(
    choice: str, version: int = 1, lines: list[dict[str, Any]] | None = None, channel="telegram"
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "return_id": RETURN_ID,
        "pinfl": PINFL,
        "tax_year": YEAR,
        "version": version,
        "decision": choice,
        "channel": channel,
        "decided_at": "2027-02-03T19:12:40+05:00",
    }
    if lines is not None:
        value["lines"] = lines
    value["decision_id"] = ids.decision_id(RETURN_ID, version, choice, lines or ())
    return value


def sent(notice_id: str, kind: str = "first_notice", version: int = 1) -> dict[str, Any]:
    return {
        "delivery_id": f"d-{notice_id[-6:]}",
        "notice_id": notice_id,
        "kind": kind,
        "pinfl": PINFL,
        "tax_year": YEAR,
        "version": version,
        "channel": "telegram",
        "status": "sent",
        "attempt": 1,
        "occurred_at": "2027-02-02T09:00:03+05:00",
        "detail": "",
    }
