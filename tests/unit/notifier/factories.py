"""Builders for notifier unit tests: notices and returns.v1 values."""

from __future__ import annotations

from typing import Any

from contracts.returns_v1 import to_returns_v1
from tax import compute_return, facts_from_records, load_parameters
from tests.unit.tax.factories import PINFL, rental, salary_year

__all__ = ["PINFL", "notice", "return_value"]


def notice(kind: str = "first_notice", **over: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "notice_id": f"{kind}:r-1:1",
        "kind": kind,
        "pinfl": PINFL,
        "tax_year": 2026,
        "return_id": "r-1",
        "version": 1,
        "created_at": "2027-02-02T09:00:00+05:00",
        "deadline": "2027-04-01",
        "balance_tiyin": 720_000_000,
        "details": {},
    }
    value.update(over)
    return value


def return_value(version: int = 1, pinfl: str = PINFL, return_id: str = "r-1") -> dict[str, Any]:
    records = [*salary_year(), rental("l-1")]
    tax_return = compute_return(facts_from_records(pinfl, 2026, records), load_parameters(), 2026)
    return to_returns_v1(
        tax_return,
        return_id=return_id,
        version=version,
        computed_at="2027-02-01T09:00:00+05:00",
    )
