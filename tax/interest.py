"""Interest on late payments (penya, Tax Code Art 110) and on late refunds (Art 104).

A refund is due ``late_refund.due_days`` (15) days after the application
(``refund_due_date``); interest on a late one runs the same way with ``÷ 365``.

Penya accrues for each calendar day of delay from the day after the due date:
unpaid tax × refinancing rate on that day ÷ 300. Whether the day of payment counts is
the parameter ``late_payment.include_payment_day`` (unverified; default yes: paying one
day late costs one day). The sum is exact and rounded once, by the one rounding rule.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

from tax.deadlines import next_working_day
from tax.errors import TaxError
from tax.parameters.model import ParameterSet
from tax.rounding import round_tiyin


def late_payment_interest(
    unpaid_tiyin: int, due_date: dt.date, paid_on: dt.date, parameters: ParameterSet
) -> int:
    """Penya in tiyin on ``unpaid_tiyin`` due on ``due_date`` and paid on ``paid_on``."""
    return _daily_interest(unpaid_tiyin, due_date, paid_on, parameters, "late_payment.rate_divisor")


def late_refund_interest(
    refund_tiyin: int, due_date: dt.date, paid_on: dt.date, parameters: ParameterSet
) -> int:
    """Interest owed to the taxpayer on a refund paid after ``due_date`` (÷ 365, unverified)."""
    return _daily_interest(refund_tiyin, due_date, paid_on, parameters, "late_refund.rate_divisor")


def refund_due_date(applied_on: dt.date, parameters: ParameterSet) -> dt.date:
    """The last day a refund applied for on ``applied_on`` may be paid without interest:
    ``late_refund.due_days`` calendar days later, moved off a day off (Arts 104, 86)."""
    days = parameters.at("late_refund.due_days", applied_on).value
    return next_working_day(applied_on + dt.timedelta(days=int(days)), parameters)


def days_of_delay(due_date: dt.date, paid_on: dt.date, parameters: ParameterSet) -> int:
    if paid_on <= due_date:
        return 0
    include = parameters.at("late_payment.include_payment_day", paid_on).value
    return (paid_on - due_date).days - (0 if include else 1)


def _daily_interest(
    amount: int, due_date: dt.date, paid_on: dt.date, parameters: ParameterSet, divisor: str
) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise TaxError(f"amount must be a non-negative integer of tiyin, got {amount!r}")
    days = days_of_delay(due_date, paid_on, parameters)
    if amount == 0 or days == 0:
        return 0
    total = Fraction(0)
    for offset in range(1, days + 1):
        day = due_date + dt.timedelta(days=offset)
        rate = parameters.at("cbu.refinancing_rate", day).value
        total += amount * rate / parameters.at(divisor, day).value
    return round_tiyin(total, parameters.at("rounding.tax_amount", paid_on).value)
