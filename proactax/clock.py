"""The clock port. The tax core never reads a clock; everything else asks one of these.

``FixedClock`` lets tests and demos say "today is 2027-03-25" and run a season in minutes.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

TASHKENT = ZoneInfo("Asia/Tashkent")


class Clock(Protocol):
    def now(self) -> datetime:
        """An aware datetime."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclasses.dataclass
class FixedClock:
    current: datetime

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


def rfc3339(moment: datetime) -> str:
    """Service timestamps are shown in Tashkent time with their offset."""
    return moment.astimezone(TASHKENT).isoformat(timespec="seconds")


@dataclasses.dataclass
class OffsetClock:
    """Starts at a chosen instant and runs forward in real time: "today is 2027-03-25"."""

    start: datetime
    _origin: datetime = dataclasses.field(default_factory=lambda: datetime.now(UTC))

    def now(self) -> datetime:
        return self.start + (datetime.now(UTC) - self._origin)


def clock_from_start(clock_start: str) -> Clock:
    """The clock a process runs on: the system clock, or one started at ``clock_start``."""
    if not clock_start:
        return SystemClock()
    return OffsetClock(datetime.fromisoformat(clock_start))
