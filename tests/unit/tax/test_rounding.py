"""The one rounding function."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tax import RoundingRule, round_tiyin

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
