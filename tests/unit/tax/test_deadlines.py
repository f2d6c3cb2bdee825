"""Deadlines move off days off (Art 86) using the per-year calendar parameter."""

from __future__ import annotations

import datetime as dt

import pytest

from tax import MissingParameter, load_parameters
from tax.deadlines import declaration_deadline, is_day_off, next_working_day, payment_deadline

D = dt.date


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (D(2024, 6, 1), D(2024, 6, 3)),  # Saturday
        (D(2025, 6, 1), D(2025, 6, 2)),  # Sunday
        (D(2025, 3, 29), D(2025, 4, 1)),  # Saturday, Sunday, then Hayit moved to Monday 31st
        (D(2026, 4, 1), D(2026, 4, 1)),  # a Wednesday
        (D(2024, 6, 15), D(2024, 6, 19)),  # Saturday, Sunday (Hayit), two days off
    ],
)
def test_next_working_day(day: dt.date, expected: dt.date) -> None:
    assert next_working_day(day, load_parameters()) == expected


@pytest.mark.parametrize(
    ("year", "declaration", "payment"),
    [
        (2023, D(2024, 4, 1), D(2024, 6, 3)),
        (2024, D(2025, 4, 1), D(2025, 6, 2)),
        (2025, D(2026, 4, 1), D(2026, 6, 1)),
        (2026, D(2027, 4, 1), D(2027, 6, 1)),
    ],
)
def test_deadlines_per_tax_year(year: int, declaration: dt.date, payment: dt.date) -> None:
    law = load_parameters().for_year(year)
    assert declaration_deadline(law) == declaration
    assert payment_deadline(law) == payment


def test_a_year_without_a_calendar_is_an_error() -> None:
    assert is_day_off(D(2027, 1, 1), load_parameters())
    with pytest.raises(MissingParameter):
        is_day_off(D(2028, 4, 1), load_parameters())


def test_a_deadline_is_worked_out_once_a_year_and_kept_with_it() -> None:
    law = load_parameters().for_year(2024)
    law.deadlines.clear()  # the parameters are loaded once a process: other tests asked
    first = declaration_deadline(law)
    assert law.deadlines == {"deadline.declaration": D(2025, 4, 1)}
    assert declaration_deadline(law) is first
    assert payment_deadline(law) == D(2025, 6, 2)  # the other deadline is its own entry
    assert law.deadlines["deadline.payment"] == D(2025, 6, 2)
