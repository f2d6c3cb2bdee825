"""Sign-in throttles: every attempt is counted first (one atomic statement), then judged."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    case,
    delete,
    literal,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from storage.base import Base
from storage.types import UtcDateTime

# analyst: aggregates and the disputes queue without identities; case_handler: individual
# disputes (masked PINFL); supervisor: all of it and integrator API keys.


class PortalThrottle(Base):
    """Attempts per key (``code:<pinfl>|<client>``, ``client:<client>``,
    ``staff:<username>|<client>``, ``send:<pinfl>`` ...) and when the next one may come.
    Counted by one atomic statement per attempt (``ThrottleRepository.attempt``)."""

    __tablename__ = "portal_throttles"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    next_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


@dataclasses.dataclass(frozen=True, slots=True)
class Backoff:
    """Progressive delays instead of a lock: ``free`` attempts without waiting, then
    ``base`` before the next, doubling each time up to ``cap``; after ``idle`` without an
    attempt the key starts again from nothing. A refused attempt is not counted and
    does not prolong the wait (nobody can keep a key locked by trying)."""

    free: int
    base: dt.timedelta
    cap: dt.timedelta
    idle: dt.timedelta

    def delay(self, attempts: int) -> dt.timedelta:
        """The wait after the ``attempts``-th counted attempt."""
        if attempts < self.free:
            return dt.timedelta(0)
        steps = attempts - self.free
        if steps >= 40 or self.base * (2**steps) >= self.cap:
            return self.cap
        return self.base * (2**steps)

    def steps(self) -> int:
        """Counts after which the delay no longer changes (the cap is reached)."""
        n = self.free
        while self.delay(n) < self.cap and n < self.free + 40:
            n += 1
        return n


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    attempts: int  # counted attempts of the key, this one included when allowed
    retry_after: dt.timedelta  # when refused: how long until the key takes an attempt


class ThrottleRepository:
    """Count first, atomically, then decide: one ``INSERT .. ON CONFLICT DO UPDATE ..
    WHERE next_at <= now RETURNING`` per attempt, on SQLite and PostgreSQL alike (SQLite
    ignores ``FOR UPDATE``; both serialise the upsert of one row), so N concurrent attempts
    are N increments and only those the backoff allows come back allowed."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def attempt(self, key: str, now: dt.datetime, backoff: Backoff) -> Verdict:
        t = PortalThrottle.__table__
        stale = now - backoff.idle
        # next_at of the n-th attempt, as bound values (no date arithmetic in SQL dialects):
        # now while attempts are free, then one value per doubling, then the cap
        first = now + backoff.delay(1)
        counted = case(
            (t.c.attempts + 1 < backoff.free, literal(now, UtcDateTime)),
            *(
                (t.c.attempts + 1 == n, literal(now + backoff.delay(n), UtcDateTime))
                for n in range(max(backoff.free, 1), backoff.steps() + 1)
            ),
            else_=literal(now + backoff.cap, UtcDateTime),
        )
        restarted = t.c.last_at <= literal(stale, UtcDateTime)
        with self._sessions() as session, session.begin():
            dialect = session.get_bind().dialect.name
            insert_ = sqlite_insert if dialect == "sqlite" else pg_insert
            statement = (
                insert_(PortalThrottle)
                .values(key=key, attempts=1, last_at=now, next_at=first)
                .on_conflict_do_update(
                    index_elements=[t.c.key],
                    set_={
                        "attempts": case((restarted, 1), else_=t.c.attempts + 1),
                        "last_at": now,
                        "next_at": case((restarted, literal(first, UtcDateTime)), else_=counted),
                    },
                    where=(t.c.next_at <= literal(now, UtcDateTime)) | restarted,
                )
                .returning(t.c.attempts)
            )
            attempts = session.execute(statement).scalar()
            if attempts is not None:
                return Verdict(True, int(attempts), dt.timedelta(0))
            row = session.get(PortalThrottle, key)
        if row is None:  # deleted between the two statements: a success elsewhere
            return Verdict(False, 0, dt.timedelta(seconds=1))
        return Verdict(False, row.attempts, max(row.next_at - now, dt.timedelta(seconds=1)))

    def forgive(self, key: str) -> None:
        """Take back one counted attempt (a success does not count against a client)."""
        with self._sessions() as session, session.begin():
            session.execute(
                update(PortalThrottle)
                .where(PortalThrottle.key == key, PortalThrottle.attempts > 0)
                .values(attempts=PortalThrottle.attempts - 1)
            )

    def clear(self, key: str) -> None:
        with self._sessions() as session, session.begin():
            session.execute(delete(PortalThrottle).where(PortalThrottle.key == key))

    def attempts(self, key: str) -> int:
        with self._sessions() as session:
            row = session.get(PortalThrottle, key)
            return 0 if row is None else int(row.attempts)

    def purge_idle(self, now: dt.datetime, idle: dt.timedelta) -> int:
        with self._sessions() as session, session.begin():
            result: Any = session.execute(
                delete(PortalThrottle).where(
                    PortalThrottle.last_at <= now - idle, PortalThrottle.next_at <= now
                )
            )
            return int(result.rowcount or 0)
