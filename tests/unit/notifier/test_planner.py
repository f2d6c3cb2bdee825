"""Quiet hours and the send planner: EDF order, projections that skip the night."""

from __future__ import annotations

import datetime as dt

from core.clock import TASHKENT
from notifier.planner import Wave, project
from notifier.schedule import QuietHours

QUIET = QuietHours.parse("21:00-09:00")


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> dt.datetime:
    return dt.datetime(2027, month, day, hour, minute, tzinfo=TASHKENT)


def test_quiet_hours_span_midnight() -> None:
    assert QUIET.is_quiet(at(1, 21)) and QUIET.is_quiet(at(2, 3)) and QUIET.is_quiet(at(2, 8, 59))
    assert not QUIET.is_quiet(at(1, 9)) and not QUIET.is_quiet(at(1, 20, 59))
    assert QUIET.next_open(at(1, 22)) == at(2, 9)
    assert QUIET.next_open(at(2, 3)) == at(2, 9)
    assert QUIET.next_open(at(2, 12)) == at(2, 12)
    assert QUIET.open_seconds_per_day() == 12 * 3600
    utc = dt.datetime(2027, 3, 1, 16, 30, tzinfo=dt.UTC)  # 21:30 in Tashkent
    assert QUIET.is_quiet(utc)
    assert not QuietHours.parse("00:00-00:00").is_quiet(at(1, 3))


def test_advance_skips_the_night() -> None:
    assert QUIET.advance(at(1, 20), 1800) == at(1, 20, 30)
    assert QUIET.advance(at(1, 20), 2 * 3600) == at(2, 10)
    assert QUIET.advance(at(1, 23), 0) == at(2, 9)
    assert QUIET.advance(at(1, 9), 3 * 12 * 3600) == at(3, 21)  # three full days


def test_waves_go_earliest_deadline_first_and_answers_before_broadcasts() -> None:
    waves = [
        Wave("telegram", "first_notice", dt.date(2027, 4, 1), 1, 36_000),
        Wave("telegram", "reminder", dt.date(2027, 3, 5), 1, 36_000),
        Wave("telegram", "payment_receipt", None, 0, 10),
    ]
    result = project(waves, 10.0, QUIET, at(1, 9))
    order = [w.kind for w in result.waves]
    assert order == ["payment_receipt", "reminder", "first_notice"]
    reminder, first = result.waves[1], result.waves[2]
    assert reminder.completes_at == at(1, 10, 0) + dt.timedelta(seconds=1)
    assert first.starts_at == reminder.completes_at
    assert first.on_time and result.all_on_time and result.total == 72_010


def test_a_wave_that_cannot_make_it_is_flagged_late() -> None:
    ten_million = Wave("telegram", "first_notice", dt.date(2027, 4, 1), 1, 10_000_000)
    slow = project([ten_million], 30.0, QUIET, at(28, 9))
    (wave,) = slow.waves
    days = 10_000_000 / 30 / (12 * 3600)
    assert 7.5 < days < 8 and not wave.on_time and wave.slack_s is not None and wave.slack_s < 0
    fast = project([ten_million], 1000.0, QUIET, at(28, 9))
    assert fast.waves[0].on_time
    assert fast.waves[0].completes_at == at(28, 9) + dt.timedelta(seconds=10_000)
    assert fast.as_dict()["waves"][0]["count"] == 10_000_000
