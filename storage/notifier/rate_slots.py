"""The fleet-wide send budget: one row per bucket."""

from __future__ import annotations

from sqlalchemy import (
    Float,
    String,
    case,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from storage.base import Base


class RateSlot(Base):
    """The fleet-wide send budget: the next free send instant (epoch seconds) per bucket."""

    __tablename__ = "notifier_rate_slots"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    next_at: Mapped[float] = mapped_column(Float)


class RateSlots:
    """A fleet-wide GCRA: every sender claims send instants from one row per bucket."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def claim(self, name: str, count: int, rate: float, now: float) -> float:
        """Reserve ``count`` consecutive send instants ``1/rate`` apart; returns the first
        (the caller sends the i-th at ``first + i / rate``). Atomic across processes."""
        span = count / rate
        with self._sessions() as session:
            self._ensure(session, name, now)
            later = case((RateSlot.next_at > now, RateSlot.next_at), else_=now)
            result = session.execute(
                update(RateSlot)
                .where(RateSlot.name == name)
                .values(next_at=later + span)
                .returning(RateSlot.next_at)
            ).scalar_one()
            session.commit()
            return float(result) - span

    def hold(self, name: str, until: float) -> None:
        """Nobody sends before ``until`` (Telegram answered 429 with retry_after)."""
        with self._sessions() as session:
            self._ensure(session, name, until)
            session.execute(
                update(RateSlot)
                .where(RateSlot.name == name, RateSlot.next_at < until)
                .values(next_at=until)
            )
            session.commit()

    @staticmethod
    def _ensure(session: Session, name: str, now: float) -> None:
        if session.get(RateSlot, name) is None:
            session.add(RateSlot(name=name, next_at=now))
            try:
                session.flush()
            except IntegrityError:  # another process created it first
                session.rollback()
