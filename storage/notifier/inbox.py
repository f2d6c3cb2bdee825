"""The portal inbox: every notice, rendered in the taxpayer's language on arrival."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from storage.base import Base
from storage.types import UtcDateTime


class InboxMessage(Base):
    """A notice in the taxpayer's portal inbox (every notice lands here)."""

    __tablename__ = "notifier_inbox"
    __table_args__ = (UniqueConstraint("pinfl", "dedupe_key", name="uq_notifier_inbox"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pinfl: Mapped[str] = mapped_column(String(14), index=True)
    dedupe_key: Mapped[str] = mapped_column(String(200))
    notice_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    tax_year: Mapped[int] = mapped_column(Integer)
    return_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(BigInteger)
    language: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    verification_code: Mapped[str] = mapped_column(String(16), index=True)
    notice: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


@dataclasses.dataclass(frozen=True, slots=True)
class InboxRecord:
    id: int
    pinfl: str
    notice_id: str
    kind: str
    tax_year: int
    return_id: str
    version: int
    language: str
    title: str
    body: str
    verification_code: str
    notice: Mapping[str, Any]
    created_at: datetime
    read_at: datetime | None


def _inbox(row: InboxMessage) -> InboxRecord:
    return InboxRecord(
        row.id,
        row.pinfl,
        row.notice_id,
        row.kind,
        row.tax_year,
        row.return_id,
        row.version,
        row.language,
        row.title,
        row.body,
        row.verification_code,
        row.notice,
        row.created_at,
        row.read_at,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class NewInboxMessage:
    pinfl: str
    dedupe_key: str
    notice: Mapping[str, Any]
    language: str
    title: str
    body: str
    verification_code: str


class Inbox:
    """The portal inbox: every notice, rendered in the taxpayer's language on arrival."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def list(self, pinfl: str, limit: int = 50, offset: int = 0) -> list[InboxRecord]:
        """Newest first."""
        with self._sessions() as session:
            rows = session.scalars(
                select(InboxMessage)
                .where(InboxMessage.pinfl == pinfl)
                .order_by(InboxMessage.created_at.desc(), InboxMessage.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return [_inbox(row) for row in rows]

    def get(self, pinfl: str, message_id: int) -> InboxRecord | None:
        """The message, only if it belongs to ``pinfl`` (object-level check)."""
        with self._sessions() as session:
            row = session.get(InboxMessage, message_id)
            return None if row is None or row.pinfl != pinfl else _inbox(row)

    def unread_count(self, pinfl: str) -> int:
        with self._sessions() as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(InboxMessage)
                    .where(InboxMessage.pinfl == pinfl, InboxMessage.read_at.is_(None))
                )
                or 0
            )

    def mark_read(self, pinfl: str, message_id: int, now: datetime) -> bool:
        with self._sessions() as session:
            result = session.execute(
                update(InboxMessage)
                .where(
                    InboxMessage.id == message_id,
                    InboxMessage.pinfl == pinfl,
                    InboxMessage.read_at.is_(None),
                )
                .values(read_at=now)
            )
            session.commit()
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def find_by_code(self, pinfl: str, code: str) -> InboxRecord | None:
        """The message that carried this verification code, if it was sent to ``pinfl``."""
        with self._sessions() as session:
            row = session.scalars(
                select(InboxMessage).where(
                    InboxMessage.pinfl == pinfl, InboxMessage.verification_code == code
                )
            ).first()
            return None if row is None else _inbox(row)

    def count(self) -> int:
        with self._sessions() as session:
            return session.scalar(select(func.count()).select_from(InboxMessage)) or 0
