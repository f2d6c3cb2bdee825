"""Late-payment interest (penya, Art 110) and late-refund interest (Art 104)."""

from __future__ import annotations

import datetime as dt

import pytest

from tax import (
    MissingParameter,
    TaxError,
    late_payment_interest,
    late_refund_interest,
    load_parameters,
    parse_parameter_files,
)
from tax.parameters import packaged_parameter_files

D = dt.date
MILLION = 1_000_000_00  # one million soum in tiyin


def test_paid_on_or_before_the_due_date_costs_nothing() -> None:
    params = load_parameters()
    assert late_payment_interest(MILLION, D(2026, 6, 1), D(2026, 6, 1), params) == 0
    assert late_payment_interest(MILLION, D(2026, 6, 1), D(2026, 5, 1), params) == 0
    assert late_payment_interest(0, D(2026, 6, 1), D(2026, 9, 1), params) == 0


def test_one_day_late() -> None:
    # 1 000 000 × 14% ÷ 300 = 466.67 soum -> 467 soum (whole soum, half up)
    assert late_payment_interest(MILLION, D(2026, 6, 1), D(2026, 6, 2), load_parameters()) == (
        467_00
    )


def test_thirty_days_late() -> None:
    # 1 000 000 × 14% × 30 ÷ 300 = 14 000 soum exactly
    assert late_payment_interest(MILLION, D(2026, 6, 1), D(2026, 7, 1), load_parameters()) == (
        14_000_00
    )


def test_rate_change_during_the_delay() -> None:
    # 21-25 July 2024 at 14%, 26-31 July at 13.5%:
    # 1 000 000 × (5 × 0.14 + 6 × 0.135) ÷ 300 = 5 033.33 soum -> 5 033 soum
    assert late_payment_interest(MILLION, D(2024, 7, 20), D(2024, 7, 31), load_parameters()) == (
        5_033_00
    )


def test_payment_day_excluded_by_parameter() -> None:
    files = packaged_parameter_files()
    files["deadlines.yaml"] = files["deadlines.yaml"].replace(
        "2020-01-01: {value: true, until: 2026-12-31}",
        "2020-01-01: {value: false, until: 2026-12-31}",
    )
    params = parse_parameter_files(files)
    assert late_payment_interest(MILLION, D(2026, 6, 1), D(2026, 6, 2), params) == 0
    # 29 days: 1 000 000 × 14% × 29 ÷ 300 = 13 533.33 -> 13 533 soum
    assert late_payment_interest(MILLION, D(2026, 6, 1), D(2026, 7, 1), params) == 13_533_00


def test_late_refund_interest_uses_365() -> None:
    # 1 000 000 × 14% × 10 ÷ 365 = 3 835.62 soum -> 3 836 soum
    assert late_refund_interest(MILLION, D(2026, 6, 1), D(2026, 6, 11), load_parameters()) == (
        3_836_00
    )


def test_a_day_without_a_rate_is_an_error() -> None:
    with pytest.raises(MissingParameter):
        late_payment_interest(MILLION, D(2027, 12, 1), D(2028, 1, 5), load_parameters())


@pytest.mark.parametrize("amount", [-1, 1.5, True])
def test_bad_amounts_are_refused(amount: object) -> None:
    with pytest.raises(TaxError):
        late_payment_interest(amount, D(2026, 6, 1), D(2026, 7, 1), load_parameters())  # type: ignore[arg-type]


def test_a_refund_is_due_fifteen_days_after_the_application_moved_off_a_day_off() -> None:
    from tax import refund_due_date

    law = load_parameters()
    assert refund_due_date(D(2027, 2, 3), law) == D(2027, 2, 18)  # a Thursday
    assert refund_due_date(D(2027, 2, 5), law) == D(2027, 2, 22)  # Sat 20th -> Mon 22nd
