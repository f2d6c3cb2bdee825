"""The status-event outbox: ``notifications.v1`` values written with each status change,
published by the relay (transactional outbox)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Integer,
    String,
    delete,
    func,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from storage.base import Base

if TYPE_CHECKING:
    from storage.notifier.deliveries import Delivery


class NotifierEvent(Base):
    """A ``notifications.v1`` value written with the status change, published by the relay
    (transactional outbox: a status is never changed without its event)."""

    __tablename__ = "notifier_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pinfl: Mapped[str] = mapped_column(String(14))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


def status_event(
    row: Delivery | Mapping[str, Any], status: str, attempt: int, detail: str, now: datetime
) -> NotifierEvent:
    """The ``notifications.v1`` value of a delivery's status change, as an outbox row."""
    get = row.get if isinstance(row, Mapping) else lambda k: getattr(row, k)
    payload = {
        "delivery_id": get("delivery_id"),
        "notice_id": get("notice_id"),
        "kind": get("kind"),
        "pinfl": get("pinfl"),
        "tax_year": get("tax_year"),
        "version": get("version"),
        "channel": get("channel"),
        "status": status,
        "attempt": attempt,
        "occurred_at": now.isoformat(timespec="seconds"),
        "detail": detail[:500],
    }
    return NotifierEvent(pinfl=get("pinfl"), payload=payload)


class Events:
    """The status-event outbox read by the relay (publishes, then deletes)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def fetch(self, limit: int) -> list[tuple[int, str, dict[str, Any]]]:
        with self._sessions() as session:
            rows = session.execute(
                select(NotifierEvent.id, NotifierEvent.pinfl, NotifierEvent.payload)
                .order_by(NotifierEvent.id)
                .limit(limit)
            ).all()
            return [(int(i), p, dict(v)) for i, p, v in rows]

    def delete(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        with self._sessions() as session:
            session.execute(delete(NotifierEvent).where(NotifierEvent.id.in_(list(ids))))
            session.commit()

    def count(self) -> int:
        with self._sessions() as session:
            return session.scalar(select(func.count()).select_from(NotifierEvent)) or 0
