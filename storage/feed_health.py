"""Registry feed health for the STC dashboard: events received per day per registry, dead
letters per day per reason (and source registry), and the last ``period_closed`` per
registry and tax year.

Written by ``agents/feed_health.py`` in batches. Counting is exactly-once over an
at-least-once stream: every batch stores, in the same transaction as its counts, the
highest offset counted per (topic, partition); a replayed message at or below that offset
is not counted again. Dead letters are also deduplicated by their source message (a
replayed bad event is dead-lettered again: same source offset, new dead-letter offset).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import BigInteger, Date, Integer, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from storage.base import Base
from storage.stream_offsets import Source, admit
from storage.types import UtcDateTime


class FeedDailyCount(Base):
    """Events per day (Tashkent) of one kind (``event`` or ``deadletter``) and key."""

    __tablename__ = "feed_health_daily"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(12), primary_key=True)  # event | deadletter
    registry_name: Mapped[str] = mapped_column("registry", String(32), primary_key=True)
    reason_code: Mapped[str] = mapped_column(String(32), primary_key=True)  # "" for events
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class FeedClosure(Base):
    """The newest ``registry.period_closed.v1`` of a registry for a tax year."""

    __tablename__ = "feed_health_closures"

    registry_name: Mapped[str] = mapped_column("registry", String(32), primary_key=True)
    tax_year: Mapped[int] = mapped_column(Integer, primary_key=True)
    closed_at: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class FeedOffset(Base):
    """The highest offset counted per topic partition (replays below it are skipped)."""

    __tablename__ = "feed_health_offsets"

    topic: Mapped[str] = mapped_column(String(200), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    offset: Mapped[int] = mapped_column(BigInteger)


@dataclasses.dataclass(frozen=True, slots=True)
class Observation:
    """One message read from a feed topic."""

    topic: str
    partition: int
    offset: int
    day: dt.date
    kind: str  # event | deadletter | closure
    registry: str
    reason_code: str = ""
    tax_year: int | None = None
    closed_at: str = ""
    # A dead letter's source message: a replay of the source dead-letters it again, at a
    # new offset of the dead-letter topic; the source's coordinates tell them apart.
    source: tuple[str, int, int] | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class DailyRow:
    day: dt.date
    kind: str
    registry: str
    reason_code: str
    count: int


@dataclasses.dataclass(frozen=True, slots=True)
class ClosureRow:
    registry: str
    tax_year: int
    closed_at: str
    received_at: dt.datetime


class FeedHealthRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def record(
        self,
        observations: Iterable[Observation],
        now: dt.datetime,
        source: Source | None = None,
        before_commit: Callable[[], None] | None = None,
    ) -> int:
        """Count a batch once; returns how many observations were new. With ``source`` (one
        position per observation), the consumer's offsets move in the same transaction
        (storage/stream_offsets.py)."""
        items = list(observations)
        if not items and source is None:
            return 0
        counted = 0
        with self._sessions() as session, session.begin():
            if source is not None:
                items = [o for o, new in zip(items, admit(session, source), strict=True) if new]
            keys = {(o.topic, o.partition) for o in items}
            keys |= {(f"source:{o.source[0]}", o.source[1]) for o in items if o.source}
            marks = self._marks(session, keys)
            deltas: dict[tuple[dt.date, str, str, str], int] = {}
            for o in sorted(items, key=lambda o: (o.topic, o.partition, o.offset)):
                mark = marks[(o.topic, o.partition)]
                if o.offset <= mark.offset:
                    continue
                mark.offset = o.offset
                if o.source is not None:
                    origin = marks[(f"source:{o.source[0]}", o.source[1])]
                    if o.source[2] <= origin.offset:
                        continue  # the same bad message, dead-lettered again on a replay
                    origin.offset = o.source[2]
                counted += 1
                if o.kind == "closure":
                    self._closure(session, o, now)
                    continue
                key = (o.day, o.kind, o.registry, o.reason_code)
                deltas[key] = deltas.get(key, 0) + 1
            self._add_counts(session, deltas)
            if before_commit is not None:
                session.flush()
                before_commit()
        return counted

    def record_progress(
        self,
        progress: dict[tuple[str, int], tuple[str, int]],
        starts: dict[tuple[str, int], int],
        day: dt.date,
    ) -> int:
        """Count registry events from read positions: ``{(topic, partition): (registry,
        next offset to read)}``. Everything between the stored mark and the position is
        counted on ``day``, once; ``starts`` is the log's first offset for a partition never
        counted (so messages deleted by retention before we read them are not counted)."""
        if not progress:
            return 0
        counted = 0
        with self._sessions() as session, session.begin():
            marks = self._marks(session, set(progress), starts)
            deltas: dict[tuple[dt.date, str, str, str], int] = {}
            for tp, (registry, next_offset) in progress.items():
                mark = marks[tp]
                if next_offset - 1 <= mark.offset:
                    continue  # a replay, or another worker counted it already
                n = next_offset - 1 - mark.offset
                mark.offset = next_offset - 1
                key = (day, "event", registry, "")
                deltas[key] = deltas.get(key, 0) + n
                counted += n
            self._add_counts(session, deltas)
        return counted

    @staticmethod
    def _marks(
        session: Session,
        keys: set[tuple[str, int]],
        starts: dict[tuple[str, int], int] | None = None,
    ) -> dict[tuple[str, int], FeedOffset]:
        """The offset marks of ``keys``, locked, made where missing (just before ``starts``):
        one query a batch; a ``get`` per partition cost more than the counting it guards."""
        query = (
            select(FeedOffset)
            .where(FeedOffset.topic.in_(sorted({topic for topic, _ in keys})))
            .with_for_update()
        )
        held = {(m.topic, m.partition): m for m in session.scalars(query)}
        marks = {}
        for topic, partition in keys:
            mark = held.get((topic, partition))
            if mark is None:
                first = (starts or {}).get((topic, partition), 0)
                mark = FeedOffset(topic=topic, partition=partition, offset=first - 1)
                session.add(mark)
            marks[(topic, partition)] = mark
        return marks

    @staticmethod
    def _add_counts(session: Session, deltas: dict[tuple[dt.date, str, str, str], int]) -> None:
        if not deltas:
            return
        query = (
            select(FeedDailyCount)
            .where(FeedDailyCount.day.in_(sorted({day for day, *_ in deltas})))
            .with_for_update()
        )
        rows = {(r.day, r.kind, r.registry_name, r.reason_code): r for r in session.scalars(query)}
        for (day, kind, registry, reason), n in deltas.items():
            row = rows.get((day, kind, registry, reason))
            if row is None:
                session.add(
                    FeedDailyCount(
                        day=day, kind=kind, registry_name=registry, reason_code=reason, count=n
                    )
                )
            else:
                row.count += n

    @staticmethod
    def _closure(session: Session, o: Observation, now: dt.datetime) -> None:
        assert o.tax_year is not None
        row = session.get(FeedClosure, (o.registry, o.tax_year))
        if row is None:
            session.add(
                FeedClosure(
                    registry_name=o.registry,
                    tax_year=o.tax_year,
                    closed_at=o.closed_at,
                    received_at=now,
                )
            )
            session.flush()
        elif o.closed_at >= row.closed_at:
            row.closed_at, row.received_at = o.closed_at, now

    def daily(self, since: dt.date | None = None) -> list[DailyRow]:
        with self._sessions() as session:
            query = select(FeedDailyCount).order_by(
                FeedDailyCount.day, FeedDailyCount.kind, FeedDailyCount.registry_name
            )
            if since is not None:
                query = query.where(FeedDailyCount.day >= since)
            return [
                DailyRow(r.day, r.kind, r.registry_name, r.reason_code, r.count)
                for r in session.scalars(query)
            ]

    def totals(self) -> dict[tuple[str, str, str], int]:
        """``{(kind, registry, reason_code): count}`` over every day."""
        with self._sessions() as session:
            rows: Any = session.execute(
                select(
                    FeedDailyCount.kind,
                    FeedDailyCount.registry_name,
                    FeedDailyCount.reason_code,
                    func.sum(FeedDailyCount.count),
                ).group_by(
                    FeedDailyCount.kind, FeedDailyCount.registry_name, FeedDailyCount.reason_code
                )
            ).all()
            return {(k, r, c): int(n or 0) for k, r, c, n in rows}

    def closures(self) -> list[ClosureRow]:
        with self._sessions() as session:
            return [
                ClosureRow(r.registry_name, r.tax_year, r.closed_at, r.received_at)
                for r in session.scalars(
                    select(FeedClosure).order_by(FeedClosure.tax_year, FeedClosure.registry_name)
                )
            ]
