"""The send planner: the backlog in earliest-deadline-first order, and for every wave
(notices of one kind with one deadline on one channel) when it will be done at the
fleet's send rate, skipping quiet hours, against its deadline.

Pure: the backlog comes in as counts per wave (``storage.notifier.deliveries.Deliveries.backlog``),
so a projection for 10 million notices costs as much as one for ten.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from core.clock import TASHKENT
from notifier.schedule import QuietHours

# Channels without a Bot API budget: the SMS stub (a real provider would set its rate).
SMS_RATE_PER_S = 100.0


@dataclasses.dataclass(frozen=True, slots=True)
class Wave:
    channel: str
    kind: str
    deadline: dt.date | None
    priority: int  # 0 = answers to the taxpayer, sent before any broadcast
    count: int


@dataclasses.dataclass(frozen=True, slots=True)
class WaveProjection:
    channel: str
    kind: str
    deadline: dt.date | None
    count: int
    starts_at: dt.datetime
    completes_at: dt.datetime
    deadline_at: dt.datetime | None  # the start of the deadline day, Tashkent time
    on_time: bool
    slack_s: float | None  # deadline_at - completes_at (negative: late)

    def as_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "kind": self.kind,
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "count": self.count,
            "starts_at": self.starts_at.isoformat(timespec="seconds"),
            "completes_at": self.completes_at.isoformat(timespec="seconds"),
            "deadline_at": self.deadline_at.isoformat(timespec="seconds")
            if self.deadline_at
            else None,
            "on_time": self.on_time,
            "slack_s": None if self.slack_s is None else round(self.slack_s),
        }


@dataclasses.dataclass(frozen=True, slots=True)
class Projection:
    computed_at: dt.datetime
    rate_per_s: float
    quiet_hours: str
    waves: tuple[WaveProjection, ...]

    @property
    def total(self) -> int:
        return sum(w.count for w in self.waves)

    @property
    def completes_at(self) -> dt.datetime | None:
        return max((w.completes_at for w in self.waves), default=None)

    @property
    def all_on_time(self) -> bool:
        return all(w.on_time for w in self.waves)

    def as_dict(self) -> dict[str, Any]:
        done = self.completes_at
        return {
            "computed_at": self.computed_at.isoformat(timespec="seconds"),
            "rate_per_s": self.rate_per_s,
            "quiet_hours": self.quiet_hours,
            "total": self.total,
            "completes_at": done.isoformat(timespec="seconds") if done else None,
            "all_on_time": self.all_on_time,
            "waves": [w.as_dict() for w in self.waves],
        }


def edf_key(wave: Wave) -> tuple[int, dt.date, str]:
    """Answers first, then the earliest deadline (none = last), then kind."""
    return (wave.priority, wave.deadline or dt.date.max, wave.kind)


def deadline_instant(deadline: dt.date) -> dt.datetime:
    """A notice for a deadline must be out before that day begins (Tashkent)."""
    return dt.datetime.combine(deadline, dt.time(0), tzinfo=TASHKENT)


def project(
    waves: Iterable[Wave],
    rate_per_s: float,
    quiet: QuietHours,
    now: dt.datetime,
    channel_rates: dict[str, float] | None = None,
) -> Projection:
    """When each wave completes if the backlog is sent in EDF order from ``now``."""
    rates = {"telegram": rate_per_s, "sms": SMS_RATE_PER_S, **(channel_rates or {})}
    projections: list[WaveProjection] = []
    by_channel: dict[str, list[Wave]] = {}
    for wave in waves:
        if wave.count > 0:
            by_channel.setdefault(wave.channel, []).append(wave)
    for channel, channel_waves in sorted(by_channel.items()):
        rate = rates.get(channel, rate_per_s)
        sent_s = 0.0  # seconds of sending time used by the waves before this one
        for wave in sorted(channel_waves, key=edf_key):
            starts_at = quiet.advance(now, sent_s)
            sent_s += wave.count / rate
            completes_at = quiet.advance(now, sent_s)
            due = deadline_instant(wave.deadline) if wave.deadline else None
            slack = (due - completes_at).total_seconds() if due else None
            projections.append(
                WaveProjection(
                    channel=channel,
                    kind=wave.kind,
                    deadline=wave.deadline,
                    count=wave.count,
                    starts_at=starts_at,
                    completes_at=completes_at,
                    deadline_at=due,
                    on_time=slack is None or slack >= 0,
                    slack_s=slack,
                )
            )
    return Projection(
        computed_at=now,
        rate_per_s=rate_per_s,
        quiet_hours=f"{quiet.start:%H:%M}-{quiet.end:%H:%M}",
        waves=tuple(projections),
    )


def waves_from_counts(rows: Sequence[Any]) -> list[Wave]:
    """``storage.notifier.deliveries.WaveCount`` rows ► waves."""
    return [
        Wave(
            channel=r.channel,
            kind=r.kind,
            deadline=dt.date.fromisoformat(r.deadline) if r.deadline else None,
            priority=r.priority,
            count=r.count,
        )
        for r in rows
    ]
