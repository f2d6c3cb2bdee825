"""Button menus: the buttons of one bot message behind an opaque, single-use token
(stored hashed)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    String,
    delete,
    insert,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from storage.base import Base
from storage.notifier.links import purge_tokens
from storage.types import UtcDateTime


class ButtonMenu(Base):
    """The buttons of one bot message: callback data is an opaque token naming this row
    (stored hashed) plus an action; the row says which actions exist, for which chat and
    return, and is consumed by the first press (a replay finds it used)."""

    __tablename__ = "notifier_button_menus"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    pinfl: Mapped[str] = mapped_column(String(14))
    screen: Mapped[str] = mapped_column(String(32))
    context: Mapped[dict[str, Any]] = mapped_column(JSON)
    actions: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


@dataclasses.dataclass(frozen=True, slots=True)
class MenuRecord:
    chat_id: int
    pinfl: str
    screen: str
    context: Mapping[str, Any]
    actions: tuple[str, ...]


class ButtonMenus:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def create(
        self,
        token_hash: str,
        chat_id: int,
        pinfl: str,
        screen: str,
        context: Mapping[str, Any],
        actions: Sequence[str],
        now: datetime,
        ttl: timedelta,
    ) -> None:
        with self._sessions() as session:
            session.add(
                ButtonMenu(
                    token_hash=token_hash,
                    chat_id=chat_id,
                    pinfl=pinfl,
                    screen=screen,
                    context=dict(context),
                    actions=list(actions),
                    created_at=now,
                    expires_at=now + ttl,
                )
            )
            session.commit()

    def create_many(
        self, menus: Sequence[Mapping[str, Any]], now: datetime, ttl: timedelta
    ) -> None:
        """Several menus in one transaction (a sending chunk's keyboards): each mapping has
        ``token_hash``, ``chat_id``, ``pinfl``, ``screen``, ``context``, ``actions``."""
        if not menus:
            return
        with self._sessions() as session:
            session.execute(
                insert(ButtonMenu),
                [
                    {
                        **{k: m[k] for k in ("token_hash", "chat_id", "pinfl", "screen")},
                        "context": dict(m["context"]),
                        "actions": list(m["actions"]),
                        "created_at": now,
                        "expires_at": now + ttl,
                    }
                    for m in menus
                ],
            )
            session.commit()

    def consume(
        self, token_hash: str, chat_id: int, action: str, now: datetime
    ) -> tuple[MenuRecord | None, str]:
        """The first press of a live menu in its own chat wins: ``(menu, "ok")``; otherwise
        ``(None, reason)``: ``unknown`` (forged), ``wrong_chat``, ``bad_action``,
        ``expired`` or ``used`` (replayed or pressed twice)."""
        with self._sessions() as session:
            row = session.get(ButtonMenu, token_hash)
            if row is None:
                return None, "unknown"
            if row.chat_id != chat_id:
                return None, "wrong_chat"
            if action not in row.actions:
                return None, "bad_action"
            taken = session.execute(
                update(ButtonMenu)
                .where(
                    ButtonMenu.token_hash == token_hash,
                    ButtonMenu.used_at.is_(None),
                    ButtonMenu.expires_at > now,
                )
                .values(used_at=now)
            )
            session.commit()
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                session.refresh(row)
                return None, "used" if row.used_at is not None else "expired"
            return MenuRecord(
                row.chat_id, row.pinfl, row.screen, dict(row.context), tuple(row.actions)
            ), "ok"

    def retire(self, chat_id: int, screens: Sequence[str], now: datetime) -> int:
        """Use up the chat's live menus of ``screens``: steps the conversation has left (a
        typed comment retires the prompt's "No comment"; a sent or cancelled dispute every
        step of the walk), so an old button cannot act on a later walk. Returns how many."""
        with self._sessions() as session:
            result = session.execute(
                update(ButtonMenu)
                .where(
                    ButtonMenu.chat_id == chat_id,
                    ButtonMenu.screen.in_(list(screens)),
                    ButtonMenu.used_at.is_(None),
                )
                .values(used_at=now)
            )
            session.commit()
            return int(result.rowcount)  # type: ignore[attr-defined]

    def purge_expired(self, now: datetime) -> int:
        """Forget menus and link tokens past their lifetime; returns how many."""
        with self._sessions() as session:
            result = session.execute(delete(ButtonMenu).where(ButtonMenu.expires_at < now))
            purged = int(result.rowcount) + purge_tokens(session, now)  # type: ignore[attr-defined]
            session.commit()
            return purged
