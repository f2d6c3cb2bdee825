"""Completeness rules: cut-off dates and period_closed validation."""

from __future__ import annotations

import json
from datetime import date

import pytest

from agents.completeness import cutoff_date, is_complete, years_past_cutoff
from contracts.period_closed import decode_period_closed
from contracts.registry_events import EventRejected

YEARS = range(2023, 2027)


def closed(**change: object) -> bytes:
    value = {
        "event_id": "closed-payroll-2026",
        "registry": "payroll",
        "schema_version": 1,
        "tax_year": 2026,
        "closed_at": "2027-01-15T09:00:00+05:00",
    } | change
    return json.dumps(value).encode()


def test_cutoff_is_the_configured_day_of_the_next_year() -> None:
    assert cutoff_date(2026, "02-01") == date(2027, 2, 1)
    assert years_past_cutoff(date(2027, 1, 31), YEARS, "02-01") == [2023, 2024, 2025]
    assert years_past_cutoff(date(2027, 2, 1), YEARS, "02-01") == [2023, 2024, 2025, 2026]


def test_complete_only_when_every_required_registry_closed() -> None:
    required = frozenset({"payroll", "rental"})
    assert not is_complete({"payroll"}, required)
    assert is_complete({"payroll", "rental", "dividend"}, required)


def test_a_good_closure_decodes() -> None:
    assert decode_period_closed(closed(), b"payroll", YEARS)["tax_year"] == 2026


@pytest.mark.parametrize(
    ("raw", "key", "reason_code", "field"),
    [
        (b"{", b"payroll", "not_json", None),
        (closed(registry="tractors"), b"tractors", "schema", "registry"),
        (closed(), b"rental", "schema", "key"),
        (closed(tax_year=2031), b"payroll", "out_of_range", "tax_year"),
        (closed(closed_at="yesterday"), b"payroll", "schema", "closed_at"),
        (closed(extra=1), b"payroll", "schema", "extra"),
    ],
)
def test_bad_closures_are_named(
    raw: bytes, key: bytes, reason_code: str, field: str | None
) -> None:
    with pytest.raises(EventRejected) as caught:
        decode_period_closed(raw, key, YEARS)
    assert (caught.value.reason_code, caught.value.field) == (reason_code, field)
