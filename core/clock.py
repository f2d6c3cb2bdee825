"""The clock port. The tax core never reads a clock; everything else asks one of these.

``FixedClock`` lets tests and demos say "today is 2027-03-25" and run a season in minutes.
``FileClock``: "now" is whatever instant a file says, so one process can drive the time of
every process of a compressed season (``proactax demo --from/--to``, tests). The driver
writes the file atomically (``write_clock_file``); readers see the new instant on their
next ``now()``. Between writes time stands still. ``clock_for(settings)`` is the clock a
process runs on.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from core.settings import Settings, SettingsError

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


class FileClock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int] | None = None
        self._now: datetime | None = None

    def now(self) -> datetime:
        try:
            stat = self.path.stat()
            key = (stat.st_mtime_ns, stat.st_size)
            if key != self._seen or self._now is None:
                instant = datetime.fromisoformat(self.path.read_text().strip())
                if instant.tzinfo is None:
                    raise ValueError("no offset")
                self._now, self._seen = instant, key
        except (OSError, ValueError) as exc:
            if self._now is None:
                raise SettingsError(
                    f"the clock file {self.path} holds no RFC 3339 instant with an offset: {exc}"
                ) from exc
        return self._now


def write_clock_file(path: Path, instant: datetime) -> None:
    """Set the time of every process reading ``path`` (atomic: write, then rename)."""
    if instant.tzinfo is None:
        raise ValueError("the instant needs an offset")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(instant.isoformat(timespec="seconds"))
    os.replace(tmp, path)


def clock_for(settings: Settings) -> Clock:
    """The process's clock: the clock file when set, else ``clock_from_start``."""
    if settings.clock_file:
        return FileClock(Path(settings.clock_file))
    return clock_from_start(settings.clock_start)
