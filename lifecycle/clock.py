"""The file clock: "now" is whatever instant a file says, so one process can drive the
time of every process of a compressed season (``proactax demo --from/--to``, tests).

It implements ``proactax.clock.Clock``. The driver writes the file atomically
(``write_clock_file``); readers see the new instant on their next ``now()``. Between
writes time stands still.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from proactax.clock import Clock, clock_from_start
from proactax.settings import Settings, SettingsError


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
