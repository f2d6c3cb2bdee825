"""The one rounding function."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tax import RoundingRule, compute_return, facts_from_records, load_parameters, round_tiyin
from tests.unit.tax.factories import PINFL, salary_year

SOUM = RoundingRule(100, "half_up")


@pytest.mark.parametrize(
    ("amount", "rule", "expected"),
    [
        (Fraction(14_814_814_68, 100), SOUM, 14_814_800),  # 148 148.1468 soum,
        (150, SOUM, 200),
        (149, SOUM, 100),
        (Fraction(14_999, 100), SOUM, 100),
        (250, RoundingRule(100, "half_even"), 200),
        (350, RoundingRule(100, "half_even"), 400),
        (101, RoundingRule(100, "down"), 100),
        (101, RoundingRule(100, "up"), 200),
        (Fraction(3, 2), RoundingRule(1, "half_up"), 2),
        (-150, SOUM, -200),
        (0, SOUM, 0),
        (12_300, SOUM, 12_300),
    ],
)
def test_examples(amount: Fraction | int, rule: RoundingRule, expected: int) -> None:
    assert round_tiyin(amount, rule) == expected


def test_default_is_whole_soum_half_up() -> None:
    assert round_tiyin(50) == 100
    assert RoundingRule().describe() == "whole soum, half up"


@pytest.mark.parametrize(("unit", "mode"), [(0, "half_up"), (100, "bankers")])
def test_invalid_rules(unit: int, mode: str) -> None:
    with pytest.raises(ValueError):
        RoundingRule(unit, mode)


@given(st.fractions(min_value=0, max_value=10**12), st.fractions(min_value=0, max_value=10**6))
def test_monotone_and_within_half_a_unit(a: Fraction, delta: Fraction) -> None:
    assert round_tiyin(a) <= round_tiyin(a + delta)
    assert abs(round_tiyin(a) - a) <= 50
    assert round_tiyin(a) % 100 == 0


def _by_fractions(amount: Fraction, rule: RoundingRule) -> int:
    """The rule as the law reads it, in exact fractions: the reference for the integers."""
    units = Fraction(amount) / rule.unit_tiyin
    sign = -1 if units < 0 else 1
    whole = abs(units).numerator // abs(units).denominator
    rest = abs(units) - whole
    up = {
        "down": False,
        "up": rest > 0,
        "half_up": rest >= Fraction(1, 2),
        "half_even": rest > Fraction(1, 2) or (rest == Fraction(1, 2) and whole % 2 == 1),
    }[rule.mode]
    return sign * (whole + up) * rule.unit_tiyin


@given(
    st.fractions(min_value=-(10**12), max_value=10**12, max_denominator=10**4)
    | st.integers(-(10**12), 10**12),
    st.integers(-(10**6), 10**6),
    st.sampled_from([1, 2, 100, 1_000]),
    st.sampled_from(["half_up", "half_even", "down", "up"]),
)
def test_the_integers_round_as_the_fractions(
    amount: Fraction | int, units: int, unit: int, mode: str
) -> None:
    rule = RoundingRule(unit, mode)
    assert round_tiyin(amount, rule) == _by_fractions(Fraction(amount), rule)
    tie = Fraction((2 * units + 1) * unit, 2)  # half a unit: where the modes part
    assert round_tiyin(tie, rule) == _by_fractions(tie, rule)


@pytest.mark.parametrize(
    ("monthly", "rounded"),
    [
        (10_000_000_00, False),  # 12 % of 120 000 000 soums: whole soums, nothing rounded
        (10_000_000_07, True),  # 12 % of 84 tiyin more is 10.08 tiyin: rounded to soums
    ],
)
def test_the_tax_line_says_whether_it_rounded(monthly: int, rounded: bool) -> None:
    facts = facts_from_records(PINFL, 2026, salary_year(monthly=monthly))
    (line,) = (
        line
        for line in compute_return(facts, load_parameters(), 2026).lines
        if line.code == "tax.general"
    )
    base = 12 * monthly
    assert line.amount_tiyin == round_tiyin(Fraction(base * 12, 100))
    assert ("(exact " in line.computation) is rounded
    assert "rounding.tax_amount" in line.parameters  # a use or, unrounded, the context
    assert ("(unverified)" in line.legal_reference) is (
        rounded
        and load_parameters().for_year(2026).constant("rounding.tax_amount").confidence
        == "unverified"
    )
