"""The figures of a line's ``computation`` text."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tax import load_parameters
from tax.lines import LineBook, exact_soums, soums
from tax.records import SourceRef


@pytest.mark.parametrize(
    ("tiyin", "text"),
    [
        (Fraction(12_345_678_901, 25), "4938271.5604"),  # 12 % of a base: exact in 4 places
        (Fraction(1, 20), "0.0005"),
        (Fraction(1, 3), "0.0033"),
        (Fraction(2, 3), "0.0067"),
        (Fraction(1, 200), "0.0001"),  # half of the last place: away from zero
        (Fraction(-1, 200), "-0.0001"),
        (12_300, "123.0000"),
        (0, "0.0000"),
    ],
)
def test_exact_soums(tiyin: Fraction | int, text: str) -> None:
    assert exact_soums(tiyin) == text


@given(st.integers(0, 10**15), st.integers(1, 10**4))
def test_exact_soums_is_the_fraction_to_four_places(numerator: int, denominator: int) -> None:
    tiyin = Fraction(numerator, denominator)
    whole, decimals = exact_soums(tiyin).split(".")
    shown = Fraction(int(whole) * 10**4 + int(decimals), 10**4)
    assert len(decimals) == 4
    assert abs(shown - tiyin / 100) <= Fraction(1, 2 * 10**4)


def test_soums() -> None:
    assert soums(123_456_789) == "1 234 567.89"
    assert soums(-5) == "-0.05"
    assert soums(0) == "0.00"
    assert soums(100) == "1.00"


def test_a_line_lists_each_source_once_in_order() -> None:
    one, two, three = (SourceRef("payroll", f"P-{m}", 1) for m in (1, 2, 3))
    later = SourceRef("payroll", "P-1", 2)
    book = LineBook()
    book.add("employment.gross", 100, [three, one, later, two, one, three])
    assert book.lines[0].sources == (one, later, two, three)


def test_lines_rendering_the_same_values_get_equal_mappings_of_their_own() -> None:
    law = load_parameters().for_year(2026)
    rate, rounding = law.constant("pit.rate.general"), law.constant("rounding.tax_amount")
    book = LineBook()
    book.add("tax.general", 100, uses=[rate, rounding])
    book.add("tax.dividend", 100, uses=[rate, rounding])
    first, second = (line.parameters for line in book.lines)
    expected = {"pit.rate.general": "12%", "rounding.tax_amount": "whole soum, half up"}
    assert first == second == expected
    assert first is not second  # rendered once, but one line's mapping is not another's
