"""The notifier's tables and repositories: Telegram links, one-time link tokens, button
menus (opaque callback data), conversation state, the delivery outbox, the portal inbox,
sign-in codes, the fleet-wide rate-limit slots, the status-event outbox and the SMS stub.

Secrets are stored hashed (link tokens, button tokens, sign-in codes). Every time is UTC
(``UtcDateTime`` makes SQLite's naive values aware again). Callers get frozen dataclasses,
never ORM rows. The rules (what a status means, when to retry) live in ``notifier``; this
module only stores, claims atomically and answers queries.
"""

from __future__ import annotations

import dataclasses
import hmac
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from storage.base import Base
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


class Conversation(Base):
    """Where a chat is in the bot's conversation (docs/notifier.md draws the states)."""

    __tablename__ = "notifier_conversations"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    state: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


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


class SignInCode(Base):
    """A one-time portal sign-in code (HMAC-hashed), with its attempts."""

    __tablename__ = "notifier_sign_in_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pinfl: Mapped[str] = mapped_column(String(14), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The client that asked for the code (the portal's throttle client): a code is tried
    # only from there, so nobody elsewhere can burn it with wrong guesses (issue 14).
    binding: Mapped[str] = mapped_column(String(64), default="")


class RateSlot(Base):
    """The fleet-wide send budget: the next free send instant (epoch seconds) per bucket."""

    __tablename__ = "notifier_rate_slots"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    next_at: Mapped[float] = mapped_column(Float)


class NotifierEvent(Base):
    """A ``notifications.v1`` value written with the status change, published by the relay
    (transactional outbox: a status is never changed without its event)."""

    __tablename__ = "notifier_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pinfl: Mapped[str] = mapped_column(String(14))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


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


# --------------------------------------------------------------------------- records


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


@dataclasses.dataclass(frozen=True, slots=True)
class MenuRecord:
    chat_id: int
    pinfl: str
    screen: str
    context: Mapping[str, Any]
    actions: tuple[str, ...]


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
class NewInboxMessage:
    pinfl: str
    dedupe_key: str
    notice: Mapping[str, Any]
    language: str
    title: str
    body: str
    verification_code: str


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


# --------------------------------------------------------------------------- repositories


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


def _purge_tokens(session: Session, now: datetime) -> int:
    result = session.execute(delete(LinkToken).where(LinkToken.expires_at < now))
    return int(result.rowcount)  # type: ignore[attr-defined]


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
            purged = int(result.rowcount) + _purge_tokens(session, now)  # type: ignore[attr-defined]
            session.commit()
            return purged


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


def _event(
    row: Delivery | Mapping[str, Any], status: str, attempt: int, detail: str, now: datetime
) -> NotifierEvent:
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
                    _event(row, row["status"], 0, row["detail"], now) for row in fresh.values()
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
            chosen: list[str] = []
            seen: set[str] = set(exclude_pinfls)
            for delivery_id, pinfl, channel in candidates:
                if pinfl in seen or (channel == "telegram" and pinfl in recent):
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
                session.add(_event(row, SENDING, row.attempt, "", now))
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
                session.add(_event(row, outcome.status, outcome.attempt, outcome.detail, now))
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
                session.add(_event(row, TECHNICAL_FAILURE, row.attempt, detail, now))
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


class SignInCodes:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def issue(
        self,
        pinfl: str,
        code_hash: str,
        channel: str,
        now: datetime,
        ttl: timedelta,
        binding: str = "",
    ) -> None:
        """A new code; any earlier unused code of this taxpayer and client stops working."""
        with self._sessions() as session:
            session.execute(
                update(SignInCode)
                .where(
                    SignInCode.pinfl == pinfl,
                    SignInCode.binding == binding,
                    SignInCode.used_at.is_(None),
                )
                .values(used_at=now)
            )
            session.add(
                SignInCode(
                    pinfl=pinfl,
                    code_hash=code_hash,
                    channel=channel,
                    created_at=now,
                    expires_at=now + ttl,
                    attempts=0,
                    binding=binding,
                )
            )
            session.commit()

    def last_issued(self, pinfl: str) -> datetime | None:
        with self._sessions() as session:
            return session.scalar(
                select(func.max(SignInCode.created_at)).where(SignInCode.pinfl == pinfl)
            )

    def verify(
        self,
        pinfl: str,
        code_hash: str | tuple[str, ...],
        now: datetime,
        max_attempts: int,
        binding: str = "",
    ) -> str:
        """``ok`` (the code is used up), ``wrong``, ``too_many`` or ``none`` (no live code).
        ``code_hash``: one hash, or one per key accepted during a key rotation.

        The attempt is counted first, by one guarded ``UPDATE .. RETURNING`` (SQLite
        ignores ``FOR UPDATE``), so concurrent guesses never exceed ``max_attempts``."""
        newest = (
            select(func.max(SignInCode.id))
            .where(
                SignInCode.pinfl == pinfl,
                SignInCode.binding == binding,
                SignInCode.used_at.is_(None),
                SignInCode.expires_at > now,
            )
            .scalar_subquery()
        )
        with self._sessions() as session, session.begin():
            # a write first: SQLite then takes its write lock at once (a read first could
            # fail with "database is locked" when another guess wrote in between)
            counted = session.execute(
                update(SignInCode)
                .where(SignInCode.id == newest, SignInCode.attempts < max_attempts)
                .values(attempts=SignInCode.attempts + 1)
                .returning(SignInCode.id, SignInCode.attempts, SignInCode.code_hash)
            ).first()
            if counted is None:
                return "none"  # no live code (never sent, expired, used or burnt)
            code_id, attempts, stored = int(counted[0]), int(counted[1]), str(counted[2])
            hashes = (code_hash,) if isinstance(code_hash, str) else code_hash
            right = any(hmac.compare_digest(stored.encode(), h.encode()) for h in hashes)
            if right or attempts >= max_attempts:  # used up, or burnt: ask for a new code
                used = session.execute(
                    update(SignInCode)
                    .where(SignInCode.id == code_id, SignInCode.used_at.is_(None))
                    .values(used_at=now)
                )
                if right:
                    return "ok" if getattr(used, "rowcount", 0) == 1 else "none"
                return "too_many"
            return "wrong"


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


__all__ = [
    "ButtonMenus",
    "Conversations",
    "Deliveries",
    "DeliveryRecord",
    "DeliveryResult",
    "Events",
    "Inbox",
    "InboxRecord",
    "LinkRecord",
    "LinkTokens",
    "MenuRecord",
    "NewDelivery",
    "NewInboxMessage",
    "RateSlots",
    "SignInCodes",
    "SmsOutbox",
    "TelegramLinks",
    "WaveCount",
]
