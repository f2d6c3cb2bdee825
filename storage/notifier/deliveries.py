"""The delivery outbox: one row per notice and channel, claimed, sent and finished by the
senders; every status change writes its ``notifications.v1`` event (events.py) in the
same transaction, and a delivery's inbox message lands with it."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Index,
    Integer,
    String,
    UniqueConstraint,
    and_,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column, sessionmaker

from storage.base import Base
from storage.notifier.events import status_event
from storage.notifier.inbox import InboxMessage, NewInboxMessage
from storage.notifier.links import TelegramLink
from storage.types import UtcDateTime

# Delivery statuses (notifier/delivery.py gives their meaning); terminal ones end a delivery.
QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
TEMPORARY_FAILURE = "temporary_failure"
PERMANENT_FAILURE = "permanent_failure"
TECHNICAL_FAILURE = "technical_failure"
PENDING_STATUSES = (QUEUED, TEMPORARY_FAILURE)
TERMINAL_STATUSES = (SENT, PERMANENT_FAILURE, TECHNICAL_FAILURE)
NO_DEADLINE = "9999-12-31"  # sort key of deliveries without a deadline (EDF: last)


class Delivery(Base):
    """One notice on one channel: the outbox row the sender claims, sends and finishes.

    ``(dedupe_key, channel)`` is unique: a notice replayed after a restart finds its row.
    """

    __tablename__ = "notifier_deliveries"
    __table_args__ = (
        UniqueConstraint("dedupe_key", "channel", name="uq_notifier_delivery"),
        Index("ix_notifier_deliveries_due", "status", "channel", "not_before"),
        Index("ix_notifier_deliveries_claim", "claim_id"),
    )

    delivery_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16))
    notice_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    pinfl: Mapped[str] = mapped_column(String(14), index=True)
    tax_year: Mapped[int] = mapped_column(Integer)
    return_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(BigInteger)
    deadline: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD, NO_DEADLINE if none
    priority: Mapped[int] = mapped_column(Integer)  # 0 = answers to the taxpayer first
    status: Mapped[str] = mapped_column(String(24))
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime] = mapped_column(UtcDateTime)
    owner: Mapped[str | None] = mapped_column(String(64))
    claim_id: Mapped[str | None] = mapped_column(String(36))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    detail: Mapped[str] = mapped_column(String(500), default="")
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    language: Mapped[str] = mapped_column(String(8))
    notice: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


@dataclasses.dataclass(frozen=True, slots=True)
class DeliveryRecord:
    delivery_id: str
    dedupe_key: str
    channel: str
    notice_id: str
    kind: str
    pinfl: str
    tax_year: int
    return_id: str
    version: int
    deadline: str | None
    priority: int
    status: str
    attempt: int
    not_before: datetime
    detail: str
    chat_id: int | None
    message_id: int | None
    language: str
    notice: Mapping[str, Any]
    created_at: datetime
    sent_at: datetime | None


def _delivery(row: Delivery) -> DeliveryRecord:
    return DeliveryRecord(
        delivery_id=row.delivery_id,
        dedupe_key=row.dedupe_key,
        channel=row.channel,
        notice_id=row.notice_id,
        kind=row.kind,
        pinfl=row.pinfl,
        tax_year=row.tax_year,
        return_id=row.return_id,
        version=row.version,
        deadline=None if row.deadline == NO_DEADLINE else row.deadline,
        priority=row.priority,
        status=row.status,
        attempt=row.attempt,
        not_before=row.not_before,
        detail=row.detail,
        chat_id=row.chat_id,
        message_id=row.message_id,
        language=row.language,
        notice=row.notice,
        created_at=row.created_at,
        sent_at=row.sent_at,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class NewDelivery:
    """A delivery to create (with its first status event) unless its key exists."""

    dedupe_key: str
    channel: str
    notice: Mapping[str, Any]
    language: str
    priority: int
    status: str
    not_before: datetime
    chat_id: int | None = None
    detail: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class DeliveryResult:
    """How one claimed delivery ended this time (the sender decides, storage applies)."""

    delivery_id: str
    status: str
    attempt: int
    detail: str = ""
    message_id: int | None = None
    retry_at: datetime | None = None  # set: back to the queue (after a temporary failure)
    unreachable_chat: int | None = None  # set: the chat blocked the bot
    fallback: NewDelivery | None = None  # another channel to try (e.g. SMS after a 403)


@dataclasses.dataclass(frozen=True, slots=True)
class WaveCount:
    channel: str
    kind: str
    deadline: str | None
    priority: int
    count: int


def _delivery_row(new: NewDelivery, now: datetime) -> dict[str, Any]:
    notice = new.notice
    return {
        "delivery_id": f"d-{uuid.uuid4().hex}",
        "dedupe_key": new.dedupe_key,
        "channel": new.channel,
        "notice_id": notice["notice_id"],
        "kind": notice["kind"],
        "pinfl": notice["pinfl"],
        "tax_year": notice["tax_year"],
        "return_id": notice["return_id"],
        "version": notice["version"],
        "deadline": notice.get("deadline") or NO_DEADLINE,
        "priority": new.priority,
        "status": new.status,
        "attempt": 0,
        "not_before": new.not_before,
        "detail": new.detail,
        "chat_id": new.chat_id,
        "language": new.language,
        "notice": dict(notice),
        "created_at": now,
        "updated_at": now,
        "sent_at": now if new.status == SENT else None,
    }


class Deliveries:
    """The delivery outbox and the inbox it fills, with the status-event outbox."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def accept(
        self,
        deliveries: Sequence[NewDelivery],
        inbox: Sequence[NewInboxMessage],
        now: datetime,
    ) -> int:
        """Store new deliveries (each with its first status event) and inbox messages in one
        transaction; keys already present are skipped. Returns how many deliveries were new."""
        with self._sessions() as session:
            keys = {(d.dedupe_key, d.channel) for d in deliveries}
            existing: set[tuple[str, str]] = set()
            if keys:
                existing = set(
                    session.execute(
                        select(Delivery.dedupe_key, Delivery.channel).where(
                            Delivery.dedupe_key.in_({k for k, _ in keys})
                        )
                    ).all()
                )
            fresh: dict[tuple[str, str], dict[str, Any]] = {}
            for new in deliveries:
                key = (new.dedupe_key, new.channel)
                if key not in existing and key not in fresh:
                    fresh[key] = _delivery_row(new, now)
            if fresh:
                session.execute(insert(Delivery), list(fresh.values()))
                session.add_all(
                    status_event(row, row["status"], 0, row["detail"], now)
                    for row in fresh.values()
                )
            boxes = {(m.pinfl, m.dedupe_key): m for m in inbox}
            if boxes:
                held = set(
                    session.execute(
                        select(InboxMessage.pinfl, InboxMessage.dedupe_key).where(
                            InboxMessage.dedupe_key.in_({k for _, k in boxes})
                        )
                    ).all()
                )
                session.add_all(
                    InboxMessage(
                        pinfl=m.pinfl,
                        dedupe_key=m.dedupe_key,
                        notice_id=m.notice["notice_id"],
                        kind=m.notice["kind"],
                        tax_year=m.notice["tax_year"],
                        return_id=m.notice["return_id"],
                        version=m.notice["version"],
                        language=m.language,
                        title=m.title,
                        body=m.body,
                        verification_code=m.verification_code,
                        notice=dict(m.notice),
                        created_at=now,
                    )
                    for key, m in boxes.items()
                    if key not in held
                )
            session.commit()
            return len(fresh)

    def claim(
        self,
        owner: str,
        channels: Sequence[str],
        now: datetime,
        limit: int,
        lease: timedelta,
        per_chat_interval: timedelta,
        priorities: Sequence[int] | None = None,
        exclude_pinfls: Iterable[str] = (),
    ) -> list[DeliveryRecord]:
        """Claim up to ``limit`` due deliveries, earliest deadline first (answers to the
        taxpayer before everything), at most one per taxpayer, none to a chat that was sent
        a message within ``per_chat_interval``. Claimed rows stay queued until
        ``mark_sending``; a lease lets another sender take them if this one dies."""
        claim_id = str(uuid.uuid4())
        with self._sessions() as session:
            candidates = session.execute(
                select(Delivery.delivery_id, Delivery.pinfl, Delivery.channel)
                .where(
                    Delivery.status.in_(PENDING_STATUSES),
                    Delivery.channel.in_(list(channels)),
                    Delivery.not_before <= now,
                    or_(Delivery.owner.is_(None), Delivery.lease_until < now),
                    *(() if priorities is None else (Delivery.priority.in_(list(priorities)),)),
                )
                .order_by(
                    Delivery.priority, Delivery.deadline, Delivery.not_before, Delivery.created_at
                )
                .limit(limit * 2)
                .with_for_update(skip_locked=True)
            ).all()
            recent: set[str] = set()
            telegram = {p for _, p, c in candidates if c == "telegram"}
            if telegram and per_chat_interval > timedelta(0):
                recent = set(
                    session.scalars(
                        select(TelegramLink.pinfl).where(
                            TelegramLink.pinfl.in_(telegram),
                            TelegramLink.last_sent_at > now - per_chat_interval,
                        )
                    )
                )
            behind = _behind_another(session, [c[0] for c in candidates])
            chosen: list[str] = []
            seen: set[str] = set(exclude_pinfls)
            for delivery_id, pinfl, channel in candidates:
                if pinfl in seen or delivery_id in behind:
                    continue  # one per taxpayer, and in order
                if channel == "telegram" and pinfl in recent:
                    continue
                seen.add(pinfl)
                chosen.append(delivery_id)
                if len(chosen) == limit:
                    break
            if not chosen:
                session.rollback()
                return []
            session.execute(
                update(Delivery)
                .where(
                    Delivery.delivery_id.in_(chosen),
                    Delivery.status.in_(PENDING_STATUSES),
                    or_(Delivery.owner.is_(None), Delivery.lease_until < now),
                )
                .values(owner=owner, claim_id=claim_id, lease_until=now + lease)
                .execution_options(synchronize_session=False)
            )
            session.commit()
            rows = session.scalars(
                select(Delivery)
                .where(Delivery.claim_id == claim_id)
                .order_by(Delivery.priority, Delivery.deadline, Delivery.not_before)
            ).all()
            return [_delivery(row) for row in rows]

    def mark_sending(
        self, owner: str, deliveries: Sequence[DeliveryRecord], now: datetime
    ) -> list[str]:
        """Claimed ► sending (with its event), committed before any send: after a crash a
        ``sending`` row means "may have been sent". Returns the ids still owned."""
        ids = [d.delivery_id for d in deliveries]
        if not ids:
            return []
        with self._sessions() as session:
            rows = session.scalars(
                select(Delivery).where(
                    Delivery.delivery_id.in_(ids),
                    Delivery.owner == owner,
                    Delivery.status.in_(PENDING_STATUSES),
                )
            ).all()
            for row in rows:
                row.status, row.attempt, row.updated_at = SENDING, row.attempt + 1, now
                session.add(status_event(row, SENDING, row.attempt, "", now))
            session.commit()
            return [row.delivery_id for row in rows]

    def finish(self, owner: str, outcomes: Sequence[DeliveryResult], now: datetime) -> None:
        """Apply how sends ended: status, event, retry time, the chat's last send or
        unreachability, and any fallback delivery; then release the claim."""
        if not outcomes:
            return
        with self._sessions() as session:
            rows = {
                row.delivery_id: row
                for row in session.scalars(
                    select(Delivery).where(
                        Delivery.delivery_id.in_([o.delivery_id for o in outcomes])
                    )
                )
            }
            sent_chats: list[int] = []
            fallbacks: list[NewDelivery] = []
            for outcome in outcomes:
                row = rows.get(outcome.delivery_id)
                if row is None or row.owner != owner:
                    continue
                row.status, row.attempt = outcome.status, outcome.attempt
                row.detail, row.updated_at = outcome.detail[:500], now
                row.owner, row.claim_id, row.lease_until = None, None, None
                if outcome.retry_at is not None:
                    row.not_before = outcome.retry_at
                if outcome.message_id is not None:
                    row.message_id = outcome.message_id
                if outcome.status == SENT:
                    row.sent_at = now
                    if row.chat_id is not None and row.channel == "telegram":
                        sent_chats.append(row.chat_id)
                session.add(status_event(row, outcome.status, outcome.attempt, outcome.detail, now))
                if outcome.unreachable_chat is not None:
                    session.execute(
                        update(TelegramLink)
                        .where(TelegramLink.chat_id == outcome.unreachable_chat)
                        .values(reachable=False, unreachable_since=now)
                    )
                if outcome.fallback is not None:
                    fallbacks.append(outcome.fallback)
            if sent_chats:
                session.execute(
                    update(TelegramLink)
                    .where(TelegramLink.chat_id.in_(sent_chats))
                    .values(last_sent_at=now)
                )
            session.commit()
        if fallbacks:
            self.accept(fallbacks, [], now)

    def defer(self, owner: str, delivery_ids: Sequence[str], until: datetime) -> None:
        """Give claimed rows back, due again at ``until`` (no status change, no event)."""
        if not delivery_ids:
            return
        with self._sessions() as session:
            session.execute(
                update(Delivery)
                .where(
                    Delivery.delivery_id.in_(list(delivery_ids)),
                    Delivery.owner == owner,
                    Delivery.status.in_(PENDING_STATUSES),
                )
                .values(owner=None, claim_id=None, lease_until=None, not_before=until)
            )
            session.commit()

    def release(self, owner: str) -> int:
        """Give back claimed rows not yet sending (a graceful stop)."""
        with self._sessions() as session:
            result = session.execute(
                update(Delivery)
                .where(Delivery.owner == owner, Delivery.status.in_(PENDING_STATUSES))
                .values(owner=None, claim_id=None, lease_until=None)
            )
            session.commit()
            return int(result.rowcount)  # type: ignore[attr-defined]

    def recover(
        self, owner: str, now: datetime, detail: str, stale_before: datetime | None = None
    ) -> tuple[int, int]:
        """After a crash: rows this owner (or any owner whose lease ran out) had claimed go
        back to the queue; rows left ``sending`` may have reached the taxpayer, so they end
        as technical failures (never sent twice; the inbox has the notice). Returns
        ``(requeued, ended)``."""
        stale = or_(Delivery.owner == owner, Delivery.lease_until < (stale_before or now))
        with self._sessions() as session:
            requeued = session.execute(
                update(Delivery)
                .where(stale, Delivery.status.in_(PENDING_STATUSES), Delivery.owner.is_not(None))
                .values(owner=None, claim_id=None, lease_until=None)
            ).rowcount  # type: ignore[attr-defined]
            rows = session.scalars(select(Delivery).where(stale, Delivery.status == SENDING)).all()
            for row in rows:
                row.status, row.detail, row.updated_at = TECHNICAL_FAILURE, detail, now
                row.owner, row.claim_id, row.lease_until = None, None, None
                session.add(status_event(row, TECHNICAL_FAILURE, row.attempt, detail, now))
            session.commit()
            return int(requeued), len(rows)

    def get(self, delivery_id: str) -> DeliveryRecord | None:
        with self._sessions() as session:
            row = session.get(Delivery, delivery_id)
            return None if row is None else _delivery(row)

    def for_pinfl(self, pinfl: str) -> list[DeliveryRecord]:
        with self._sessions() as session:
            rows = session.scalars(
                select(Delivery).where(Delivery.pinfl == pinfl).order_by(Delivery.created_at)
            )
            return [_delivery(row) for row in rows]

    def all(self, limit: int = 100_000) -> list[DeliveryRecord]:
        with self._sessions() as session:
            rows = session.scalars(select(Delivery).order_by(Delivery.created_at).limit(limit))
            return [_delivery(row) for row in rows]

    def status_counts(self) -> dict[tuple[str, str], int]:
        """``(channel, status) -> count``."""
        with self._sessions() as session:
            rows = session.execute(
                select(Delivery.channel, Delivery.status, func.count()).group_by(
                    Delivery.channel, Delivery.status
                )
            ).all()
            return {(channel, status): int(n) for channel, status, n in rows}

    def backlog(self, channels: Sequence[str]) -> list[WaveCount]:
        """Deliveries not yet finished, counted per wave (kind and deadline)."""
        with self._sessions() as session:
            rows = session.execute(
                select(
                    Delivery.channel,
                    Delivery.kind,
                    Delivery.deadline,
                    Delivery.priority,
                    func.count(),
                )
                .where(
                    Delivery.status.in_((*PENDING_STATUSES, SENDING)),
                    Delivery.channel.in_(list(channels)),
                )
                .group_by(Delivery.channel, Delivery.kind, Delivery.deadline, Delivery.priority)
            ).all()
            return [
                WaveCount(c, k, None if d == NO_DEADLINE else d, int(p), int(n))
                for c, k, d, p, n in rows
            ]

    def next_due(self, channels: Sequence[str]) -> datetime | None:
        """When the earliest pending delivery becomes due (None: nothing pending)."""
        with self._sessions() as session:
            return session.scalar(
                select(func.min(Delivery.not_before)).where(
                    Delivery.status.in_(PENDING_STATUSES), Delivery.channel.in_(list(channels))
                )
            )


def _behind_another(session: Session, delivery_ids: Sequence[str]) -> set[str]:
    """Of ``delivery_ids``, those with another message to the same taxpayer on the same
    channel still to go ahead of them: more urgent (a lower priority number), or as urgent
    and planned earlier. A receipt put back after a 429 is not overtaken by the survey
    planned with it (the survey asks about the receipt)."""
    if not delivery_ids:
        return set()
    ahead = aliased(Delivery)
    return set(
        session.scalars(
            select(Delivery.delivery_id)
            .join(
                ahead,
                and_(
                    ahead.pinfl == Delivery.pinfl,
                    ahead.channel == Delivery.channel,
                    ahead.delivery_id != Delivery.delivery_id,
                ),
            )
            .where(
                Delivery.delivery_id.in_(list(delivery_ids)),
                ahead.status.in_(PENDING_STATUSES),
                or_(
                    ahead.priority < Delivery.priority,
                    and_(
                        ahead.priority == Delivery.priority,
                        ahead.created_at < Delivery.created_at,
                    ),
                ),
            )
        )
    )
