"""Where each chat is in the bot's conversation."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    String,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from storage.base import Base
from storage.types import UtcDateTime


class Conversation(Base):
    """Where a chat is in the bot's conversation (docs/notifier.md draws the states)."""

    __tablename__ = "notifier_conversations"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    state: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Conversations:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def get(self, chat_id: int) -> tuple[str, dict[str, Any]]:
        with self._sessions() as session:
            row = session.get(Conversation, chat_id)
            return ("idle", {}) if row is None else (row.state, dict(row.data))

    def set(self, chat_id: int, state: str, data: Mapping[str, Any], now: datetime) -> None:
        with self._sessions() as session:
            row = session.get(Conversation, chat_id)
            if row is None:
                row = Conversation(chat_id=chat_id)
                session.add(row)
            row.state, row.data, row.updated_at = state, dict(data), now
            session.commit()
