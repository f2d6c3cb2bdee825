"""Reminder thresholds and the next day the timer must look at a return.

A reminder ``d`` days before a deadline is due from ``deadline - d`` until the deadline,
once per version. It is skipped when the taxpayer was told on or after that day (the
notice said it all), and when a nearer threshold has been reached already (a worker that
was down for a week sends the 7-day reminder, not the 30-day one and then the 7-day one).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable


def _on(deadline: dt.date, days: int) -> dt.date:
    return deadline - dt.timedelta(days=days)


def reminder_due(
    deadline: dt.date,
    days: Iterable[int],
    since: dt.date | None,
    today: dt.date,
    sent: Callable[[int], bool],
) -> int | None:
    """The threshold (days before ``deadline``) whose reminder is due today, or None."""
    if since is None or today > deadline:
        return None
    crossed = [d for d in days if since < _on(deadline, d) <= today]
    if not crossed:
        return None
    nearest = min(crossed)
    return None if sent(nearest) else nearest


def next_reminder_on(
    deadline: dt.date,
    days: Iterable[int],
    since: dt.date | None,
    today: dt.date,
    sent: Callable[[int], bool],
) -> dt.date | None:
    """The first day (maybe today or earlier: due now) a reminder will be due, or None."""
    if since is None or today > deadline:
        return None
    days = tuple(days)
    dates = []
    for d in days:
        on = _on(deadline, d)
        if on <= since or on > deadline or sent(d):
            continue
        if any(_on(deadline, nearer) <= today for nearer in days if nearer < d):
            continue  # a nearer threshold is reached: this one is skipped for good
        dates.append(on)
    return min(dates) if dates else None


def parse_days(text: str) -> tuple[int, ...]:
    """``"30,7,1"`` -> ``(30, 7, 1)``; ValueError on anything but positive integers."""
    days = tuple(int(part) for part in text.split(",") if part.strip())
    if any(d < 1 for d in days):
        raise ValueError(text)
    return tuple(sorted(set(days), reverse=True))
