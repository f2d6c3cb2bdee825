"""Quiet hours in the service's calendar (Asia/Tashkent): no broadcast notice between
``start`` and ``end`` (default 21:00-09:00); the window may span midnight."""

from __future__ import annotations

import dataclasses
import datetime as dt

from core.clock import TASHKENT


@dataclasses.dataclass(frozen=True, slots=True)
class QuietHours:
    start: dt.time
    end: dt.time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        """``"21:00-09:00"``; equal ends (``"00:00-00:00"``) mean no quiet hours."""
        first, second = text.split("-")
        return cls(dt.time.fromisoformat(first), dt.time.fromisoformat(second))

    @property
    def none(self) -> bool:
        return self.start == self.end

    def is_quiet(self, moment: dt.datetime) -> bool:
        if self.none:
            return False
        t = moment.astimezone(TASHKENT).time()
        if self.start > self.end:  # spans midnight
            return t >= self.start or t < self.end
        return self.start <= t < self.end

    def next_open(self, moment: dt.datetime) -> dt.datetime:
        """``moment`` if sending is allowed then, else the end of its quiet window."""
        if not self.is_quiet(moment):
            return moment
        local = moment.astimezone(TASHKENT)
        day = local.date()
        if self.start > self.end and local.time() >= self.start:
            day += dt.timedelta(days=1)
        return dt.datetime.combine(day, self.end, tzinfo=TASHKENT)

    def next_quiet(self, moment: dt.datetime) -> dt.datetime | None:
        """When the next quiet window starts at or after an open ``moment`` (None: never)."""
        if self.none:
            return None
        local = moment.astimezone(TASHKENT)
        start = dt.datetime.combine(local.date(), self.start, tzinfo=TASHKENT)
        return start if start > local else start + dt.timedelta(days=1)

    def advance(self, moment: dt.datetime, seconds: float) -> dt.datetime:
        """The instant reached after ``seconds`` of sending time from ``moment``, skipping
        quiet windows (a backlog does not drain at night)."""
        current = self.next_open(moment)
        remaining = max(0.0, seconds)
        while True:
            quiet = self.next_quiet(current)
            if quiet is None:
                return current + dt.timedelta(seconds=remaining)
            window = (quiet - current).total_seconds()
            if remaining <= window:
                return current + dt.timedelta(seconds=remaining)
            remaining -= window
            current = self.next_open(quiet)

    def open_seconds_per_day(self) -> float:
        if self.none:
            return 86400.0
        start = self.start.hour * 3600 + self.start.minute * 60
        end = self.end.hour * 3600 + self.end.minute * 60
        quiet = end - start if start < end else 86400 - start + end
        return float(86400 - quiet)
