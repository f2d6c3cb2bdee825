"""Telegram links (one chat, one taxpayer) and one-time deep-link tokens (stored hashed)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import (
    BigInteger,
    Boolean,
    String,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from storage.base import Base
from storage.notifier.conversations import Conversation
from storage.types import UtcDateTime


class TelegramLink(Base):
    """One Telegram chat linked to one taxpayer (a new link of either side replaces it)."""

    __tablename__ = "notifier_telegram_links"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    pinfl: Mapped[str] = mapped_column(String(14), unique=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    linked_via: Mapped[str] = mapped_column(String(16))  # deep_link | contact
    linked_at: Mapped[datetime] = mapped_column(UtcDateTime)
    language: Mapped[str | None] = mapped_column(String(8))  # the taxpayer's choice in the bot
    reachable: Mapped[bool] = mapped_column(Boolean, default=True)
    unreachable_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class LinkToken(Base):
    """A one-time deep-link token (``/start <token>``); only its sha256 is stored."""

    __tablename__ = "notifier_link_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    pinfl: Mapped[str] = mapped_column(String(14), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    used_by_chat: Mapped[int | None] = mapped_column(BigInteger)


@dataclasses.dataclass(frozen=True, slots=True)
class LinkRecord:
    chat_id: int
    pinfl: str
    user_id: int
    linked_via: str
    linked_at: datetime
    language: str | None
    reachable: bool
    last_sent_at: datetime | None


def _link(row: TelegramLink) -> LinkRecord:
    return LinkRecord(
        row.chat_id,
        row.pinfl,
        row.user_id,
        row.linked_via,
        row.linked_at,
        row.language,
        row.reachable,
        row.last_sent_at,
    )


class TelegramLinks:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def link(self, chat_id: int, user_id: int, pinfl: str, via: str, now: datetime) -> int | None:
        """Link ``chat_id`` to ``pinfl``; returns the chat the taxpayer was linked to before
        (now unlinked), if another. A chat holds one taxpayer; a taxpayer one chat."""
        with self._sessions() as session:
            previous = session.scalars(
                select(TelegramLink).where(TelegramLink.pinfl == pinfl)
            ).first()
            replaced = None
            if previous is not None and previous.chat_id != chat_id:
                replaced = previous.chat_id
                session.delete(previous)
                session.flush()
            row = session.get(TelegramLink, chat_id)
            if row is None:
                row = TelegramLink(chat_id=chat_id)
                session.add(row)
            row.pinfl, row.user_id, row.linked_via, row.linked_at = pinfl, user_id, via, now
            row.reachable, row.unreachable_since = True, None
            session.commit()
            return replaced

    def unlink_chat(self, chat_id: int) -> str | None:
        """Remove the chat's link; returns the taxpayer it was linked to."""
        with self._sessions() as session:
            row = session.get(TelegramLink, chat_id)
            if row is None:
                return None
            pinfl = row.pinfl
            session.delete(row)
            session.execute(delete(Conversation).where(Conversation.chat_id == chat_id))
            session.commit()
            return pinfl

    def unlink_pinfl(self, pinfl: str) -> int | None:
        with self._sessions() as session:
            row = session.scalars(select(TelegramLink).where(TelegramLink.pinfl == pinfl)).first()
            if row is None:
                return None
            chat_id = row.chat_id
            session.delete(row)
            session.commit()
            return chat_id

    def by_chat(self, chat_id: int) -> LinkRecord | None:
        with self._sessions() as session:
            row = session.get(TelegramLink, chat_id)
            return None if row is None else _link(row)

    def by_pinfl(self, pinfl: str) -> LinkRecord | None:
        with self._sessions() as session:
            row = session.scalars(select(TelegramLink).where(TelegramLink.pinfl == pinfl)).first()
            return None if row is None else _link(row)

    def by_pinfls(self, pinfls: Iterable[str]) -> dict[str, LinkRecord]:
        wanted = list(set(pinfls))
        if not wanted:
            return {}
        with self._sessions() as session:
            rows = session.scalars(select(TelegramLink).where(TelegramLink.pinfl.in_(wanted)))
            return {row.pinfl: _link(row) for row in rows}

    def set_language(self, chat_id: int, language: str) -> None:
        with self._sessions() as session:
            session.execute(
                update(TelegramLink)
                .where(TelegramLink.chat_id == chat_id)
                .values(language=language)
            )
            session.commit()

    def mark_reachable(self, chat_id: int) -> None:
        """The taxpayer wrote to the bot again (after blocking it): reachable once more."""
        with self._sessions() as session:
            session.execute(
                update(TelegramLink)
                .where(TelegramLink.chat_id == chat_id, ~TelegramLink.reachable)
                .values(reachable=True, unreachable_since=None)
            )
            session.commit()

    def mark_unreachable(self, chat_id: int, now: datetime) -> None:
        """The chat blocked the bot (403): notices go to the inbox and SMS instead."""
        with self._sessions() as session:
            session.execute(
                update(TelegramLink)
                .where(TelegramLink.chat_id == chat_id, TelegramLink.reachable)
                .values(reachable=False, unreachable_since=now)
            )
            session.commit()

    def note_sent(self, chat_id: int, now: datetime) -> None:
        with self._sessions() as session:
            session.execute(
                update(TelegramLink).where(TelegramLink.chat_id == chat_id).values(last_sent_at=now)
            )
            session.commit()

    def count(self) -> int:
        with self._sessions() as session:
            return session.scalar(select(func.count()).select_from(TelegramLink)) or 0


class LinkTokens:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def issue(self, token_hash: str, pinfl: str, now: datetime, ttl: timedelta) -> datetime:
        expires_at = now + ttl
        with self._sessions() as session:
            session.add(
                LinkToken(token_hash=token_hash, pinfl=pinfl, created_at=now, expires_at=expires_at)
            )
            session.commit()
        return expires_at

    def consume(self, token_hash: str, chat_id: int, now: datetime) -> tuple[str | None, str]:
        """Use a token once: ``(pinfl, "ok")``, or ``(None, reason)`` with reason one of
        ``unknown``, ``expired``, ``used``."""
        with self._sessions() as session:
            taken = session.execute(
                update(LinkToken)
                .where(
                    LinkToken.token_hash == token_hash,
                    LinkToken.used_at.is_(None),
                    LinkToken.expires_at > now,
                )
                .values(used_at=now, used_by_chat=chat_id)
            )
            session.commit()
            row = session.get(LinkToken, token_hash)
            if row is None:
                return None, "unknown"
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                return row.pinfl, "ok"
            return None, "used" if row.used_at is not None else "expired"


def purge_tokens(session: Session, now: datetime) -> int:
    result = session.execute(delete(LinkToken).where(LinkToken.expires_at < now))
    return int(result.rowcount)  # type: ignore[attr-defined]
