"""Calendar arithmetic shared by the rules (months held, rent periods, month ends)."""

from __future__ import annotations

import calendar
import datetime as dt


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus whole calendar months, clamped to the end of a shorter month.

    31 January + 1 month = 28/29 February; the anniversary is always counted from the
    original day, never from a previous clamped result.
    """
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return dt.date(year, month0 + 1, min(day.day, last))


def month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def held_at_least(acquired: dt.date, sold: dt.date, months: int) -> bool:
    """True when ``sold`` is on or after the ``months``-th monthly anniversary of ``acquired``."""
    return sold >= add_months(acquired, months)


def full_months_between(start: dt.date, end: dt.date) -> int:
    """Whole calendar months from ``start`` to ``end`` (0 when ``end`` is before ``start``)."""
    if end < start:
        return 0
    months = (end.year - start.year) * 12 + (end.month - start.month)
    while months > 0 and add_months(start, months) > end:
        months -= 1
    return months
