"""The SMS adapter stub's outbox."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Integer,
    String,
    Text,
    delete,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from storage.base import Base
from storage.types import UtcDateTime


class SmsMessage(Base):
    """What the SMS adapter stub would have handed to an SMS provider. A message carrying
    a one-time code has ``expires_at`` (the code's expiry) and is deleted after it."""

    __tablename__ = "notifier_sms_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pinfl: Mapped[str] = mapped_column(String(14), index=True)
    phone: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True, index=True)


class SmsOutbox:
    """The SMS adapter stub's record of what it would have sent. One-time codes are no
    secret kept at rest: the stored text has the code masked, unless ``keep_codes`` (only in
    development, where the tests and the demo read codes from here); either way the message
    is deleted once its code has expired."""

    MASK = "******"

    def __init__(self, sessions: sessionmaker[Session], keep_codes: bool = False) -> None:
        self._sessions = sessions
        self._keep_codes = keep_codes

    def add(
        self,
        pinfl: str,
        phone: str,
        text: str,
        now: datetime,
        *,
        code: str | None = None,
        expires_at: datetime | None = None,
    ) -> int:
        """``code``: a one-time code inside ``text`` (masked unless ``keep_codes``) that
        stops working at ``expires_at`` (the row is purged then)."""
        if code and not self._keep_codes:
            text = text.replace(code, self.MASK)
        with self._sessions() as session:
            self._purge(session, now)
            row = SmsMessage(
                pinfl=pinfl, phone=phone, text=text, created_at=now, expires_at=expires_at
            )
            session.add(row)
            session.commit()
            return row.id

    def purge_expired(self, now: datetime) -> int:
        """Delete the messages whose code has expired; returns how many."""
        with self._sessions() as session:
            count = self._purge(session, now)
            session.commit()
            return count

    @staticmethod
    def _purge(session: Session, now: datetime) -> int:
        result = session.execute(
            delete(SmsMessage).where(
                SmsMessage.expires_at.is_not(None), SmsMessage.expires_at <= now
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def for_pinfl(self, pinfl: str) -> list[tuple[str, str, datetime]]:
        """``(phone, text, created_at)`` oldest first."""
        with self._sessions() as session:
            rows = session.execute(
                select(SmsMessage.phone, SmsMessage.text, SmsMessage.created_at)
                .where(SmsMessage.pinfl == pinfl)
                .order_by(SmsMessage.id)
            ).all()
            return [(p, t, c if c.tzinfo else c.replace(tzinfo=UTC)) for p, t, c in rows]
