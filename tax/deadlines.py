"""Declaration and payment deadlines, moved off days off (Tax Code Arts 86, 397, 398)."""

from __future__ import annotations

import datetime as dt

from tax.parameters.model import ParameterSet
from tax.parameters.year import YearParameters


def is_day_off(day: dt.date, parameters: ParameterSet) -> bool:
    """A weekly day off or a listed non-working day (``MissingParameter`` if no calendar)."""
    weekend = parameters.at("calendar.weekend_days", day).value
    holidays = parameters.at("calendar.non_working_days", day).value
    return day.isoweekday() in weekend or day in holidays


def next_working_day(day: dt.date, parameters: ParameterSet) -> dt.date:
    """``day`` itself if it is a working day, else the first working day after it."""
    while is_day_off(day, parameters):
        day += dt.timedelta(days=1)
    return day


def deadline(law: YearParameters, name: str) -> dt.date:
    """The deadline ``name`` (a month-day of the year after the tax year), moved if off.

    Worked out once a tax year and kept in ``law`` (its calendar walk was ≈ 4 % of every
    return's computing); a year that cannot work it out raises every time, as before."""
    found = law.deadlines.get(name)
    if found is None:
        month, day = law.value(name)
        found = next_working_day(dt.date(law.year + 1, month, day), law.params)
        law.deadlines[name] = found
    return found


def declaration_deadline(law: YearParameters) -> dt.date:
    return deadline(law, "deadline.declaration")


def payment_deadline(law: YearParameters) -> dt.date:
    return deadline(law, "deadline.payment")
