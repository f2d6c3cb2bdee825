"""The return lifecycle in SQL: one row per return, its payments and disputes, an
append-only audit log, an outbox of messages to publish, decision results, and the
payment-gateway stub's own ledger.

``LifecycleRepository.apply`` is the one way state changes: it loads a return's case under
a row lock (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite serialises writers), runs a
pure command of ``lifecycle.machine`` on it, and writes the case, the audit entries, the
outgoing messages and the decision result in the same transaction. The row carries a
version counter (optimistic locking), so a concurrent writer makes the command run again
on fresh data instead of losing an update. Messages are published after the commit and
marked published; a relay publishes what a crash left behind (at least once, with
deterministic ids the receivers use to drop copies).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    and_,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from contracts import topics
from lifecycle.model import (
    AuditRecord,
    Case,
    DecisionOutcome,
    Dispute,
    Outcome,
    Payment,
    State,
    Version,
)
from storage.base import Base
from storage.models import CompressedJSON

log = logging.getLogger(__name__)

_ID = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER only


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (no time zones) as well."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class LifecycleReturn(Base):
    __tablename__ = "lifecycle_returns"
    __table_args__ = (UniqueConstraint("pinfl", "tax_year", name="uq_lifecycle_taxpayer_year"),)

    return_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    pinfl: Mapped[str] = mapped_column(String(14), index=True)
    tax_year: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(24), index=True)
    version: Mapped[int] = mapped_column(Integer)
    balance_tiyin: Mapped[int] = mapped_column(BigInteger)
    declaration_required: Mapped[bool] = mapped_column(Boolean)
    paid_net_tiyin: Mapped[int] = mapped_column(BigInteger, default=0)
    payload: Mapped[dict[str, Any]] = mapped_column(CompressedJSON)  # the current version
    notified_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    notified_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    viewed_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    agreed_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    undisputed_tiyin: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    overdue_since: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    next_due_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    row_version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": row_version}  # noqa: RUF012 (SQLAlchemy's API)


class LifecyclePayment(Base):
    __tablename__ = "lifecycle_payments"

    payment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    return_id: Mapped[str] = mapped_column(String(64), index=True)
    pinfl: Mapped[str] = mapped_column(String(14), index=True)
    tax_year: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8))
    amount_tiyin: Mapped[int] = mapped_column(BigInteger)
    principal_tiyin: Mapped[int] = mapped_column(BigInteger)
    interest_tiyin: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12), index=True)
    reproducibility_hash: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    settled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    provider_ref: Mapped[str] = mapped_column(String(64), default="")
    account_ref: Mapped[str] = mapped_column(String(64), default="")
    channel: Mapped[str] = mapped_column(String(16), default="")


class LifecycleDispute(Base):
    __tablename__ = "lifecycle_disputes"

    dispute_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    return_id: Mapped[str] = mapped_column(String(64), index=True)
    pinfl: Mapped[str] = mapped_column(String(14), index=True)
    tax_year: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    line_code: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(64))
    registry_name: Mapped[str] = mapped_column("registry", String(32))
    record_id: Mapped[str] = mapped_column(String(64))
    revision: Mapped[int] = mapped_column(BigInteger)
    reason_code: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    respond_by: Mapped[dt.date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(12), index=True)
    response_comment: Mapped[str] = mapped_column(Text, default="")
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    decision_id: Mapped[str] = mapped_column(String(64), default="")


class LifecycleAudit(Base):
    """Append-only (the migration adds triggers refusing UPDATE and DELETE)."""

    __tablename__ = "lifecycle_audit"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    return_id: Mapped[str] = mapped_column(String(64), index=True)
    pinfl: Mapped[str] = mapped_column(String(14), index=True)
    tax_year: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(24), nullable=True)
    to_state: Mapped[str | None] = mapped_column(String(24), nullable=True)
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    ref: Mapped[str] = mapped_column(String(80), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    occurred_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class LifecycleOutbox(Base):
    __tablename__ = "lifecycle_outbox"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(80), unique=True)
    topic: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))  # notice kind, payment status, "dispute"
    key: Mapped[str] = mapped_column(String(64))
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    return_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)  # wall time, not business
    published_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True, index=True)


class LifecycleDecision(Base):
    """The result of every decision read from decisions.v1, for the bot and the portal."""

    __tablename__ = "lifecycle_decisions"

    decision_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    return_id: Mapped[str] = mapped_column(String(64), index=True)
    pinfl: Mapped[str] = mapped_column(String(14), index=True)
    tax_year: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(String(8))
    channel: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(12))
    reason_code: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    current_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class StubGatewayEntry(Base):
    """The payment-gateway stub's own ledger (the "bank side"): one row per idempotency key."""

    __tablename__ = "payment_stub_ledger"

    idempotency_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    operation: Mapped[str] = mapped_column(String(8))
    pinfl: Mapped[str] = mapped_column(String(14), index=True)
    amount_tiyin: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12))
    provider_ref: Mapped[str] = mapped_column(String(64))
    account_ref: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    settle_after: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


# --- the repository -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    topic: str
    key: str
    value: dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class Applied:
    outcome: Outcome
    outbox: list[OutboxItem]


@dataclasses.dataclass(frozen=True, slots=True)
class PendingPayment:
    payment_id: str
    return_id: str
    pinfl: str
    kind: str
    amount_tiyin: int
    idempotency_key: str


Command = Callable[[Case | None], Outcome]
RETRYABLE = (OperationalError, IntegrityError, StaleDataError)
# What a caller may retry later (the database is away or busy); anything else is a bug.
DATABASE_ERRORS: tuple[type[Exception], ...] = (DBAPIError, StaleDataError)
ATTEMPTS = 12


class LifecycleRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    # --- the one write path ------------------------------------------------------------

    def apply(
        self,
        command: Command,
        *,
        return_id: str | None = None,
        taxpayer: tuple[str, int] | None = None,
        now: dt.datetime | None = None,
    ) -> Applied:
        """Run ``command`` on the case of ``return_id`` (or of ``taxpayer`` = (pinfl,
        year)) and save everything it yields in one transaction. ``Refused`` and other
        exceptions of the command propagate; nothing is saved then."""
        for attempt in range(ATTEMPTS):
            try:
                return self._apply_once(command, return_id, taxpayer, now)
            except RETRYABLE as exc:
                if attempt == ATTEMPTS - 1:
                    raise
                log.debug("lifecycle write conflict (%s), retrying", type(exc).__name__)
                time.sleep(min(0.5, 0.02 * 2**attempt))
        raise AssertionError("unreachable")

    def _apply_once(
        self,
        command: Command,
        return_id: str | None,
        taxpayer: tuple[str, int] | None,
        now: dt.datetime | None,
    ) -> Applied:
        wall = now or dt.datetime.now(dt.UTC)
        with self._sessions() as session, session.begin():
            row = self._row(session, return_id, taxpayer, lock=True)
            case = _to_case(session, row) if row is not None else None
            outcome = command(case)
            if not outcome.changed or outcome.case is None:
                if outcome.decision is not None and outcome.case is None:
                    self._save_decision_without_case(session, outcome.decision, wall)
                return Applied(outcome, [])
            new = outcome.case
            if row is None:
                row = LifecycleReturn(return_id=new.return_id, created_at=wall)
                session.add(row)
            _fill_row(row, new, wall)
            self._save_payments(session, new)
            self._save_disputes(session, new)
            for record in outcome.audit:
                session.add(_audit_row(new, record, wall))
            outbox = self._save_messages(session, new, outcome, wall)
            if outcome.decision is not None:
                self._save_decision(session, new, outcome.decision, wall)
            session.flush()
            items = [OutboxItem(r.id, r.topic, r.key, r.value) for r in outbox]
        return Applied(outcome, items)

    def _row(
        self,
        session: Session,
        return_id: str | None,
        taxpayer: tuple[str, int] | None,
        lock: bool,
    ) -> LifecycleReturn | None:
        query = select(LifecycleReturn)
        if return_id is not None:
            query = query.where(LifecycleReturn.return_id == return_id)
        elif taxpayer is not None:
            query = query.where(
                LifecycleReturn.pinfl == taxpayer[0], LifecycleReturn.tax_year == taxpayer[1]
            )
        else:
            raise ValueError("return_id or taxpayer")
        if lock:
            query = query.with_for_update()
        return session.scalars(query).first()

    def _save_payments(self, session: Session, case: Case) -> None:
        rows = {
            r.payment_id: r
            for r in session.scalars(
                select(LifecyclePayment).where(LifecyclePayment.return_id == case.return_id)
            )
        }
        for p in case.payments:
            row = rows.get(p.payment_id)
            if row is None:
                row = LifecyclePayment(
                    payment_id=p.payment_id,
                    idempotency_key=p.idempotency_key,
                    return_id=case.return_id,
                    pinfl=case.pinfl,
                    tax_year=case.tax_year,
                )
                session.add(row)
            for name in (
                "version", "attempt", "kind", "amount_tiyin", "principal_tiyin",
                "interest_tiyin", "status", "reproducibility_hash", "requested_at",
                "settled_at", "provider_ref", "account_ref", "channel",
            ):  # fmt: skip
                setattr(row, name, getattr(p, name))

    def _save_disputes(self, session: Session, case: Case) -> None:
        rows = {
            r.dispute_id: r
            for r in session.scalars(
                select(LifecycleDispute).where(LifecycleDispute.return_id == case.return_id)
            )
        }
        for d in case.disputes:
            row = rows.get(d.dispute_id)
            if row is None:
                row = LifecycleDispute(
                    dispute_id=d.dispute_id,
                    return_id=case.return_id,
                    pinfl=case.pinfl,
                    tax_year=case.tax_year,
                )
                session.add(row)
            row.registry_name = d.registry
            for name in (
                "version", "line_code", "subject", "record_id", "revision", "reason_code",
                "comment", "opened_at", "respond_by", "status", "response_comment",
                "resolved_at", "decision_id",
            ):  # fmt: skip
                setattr(row, name, getattr(d, name))

    def _save_messages(
        self, session: Session, case: Case, outcome: Outcome, wall: dt.datetime
    ) -> list[LifecycleOutbox]:
        if not outcome.messages:
            return []
        wanted = [m.message_id for m in outcome.messages]
        known = set(
            session.scalars(
                select(LifecycleOutbox.message_id).where(LifecycleOutbox.message_id.in_(wanted))
            )
        )
        rows = []
        for m in outcome.messages:
            if m.message_id in known:
                continue
            known.add(m.message_id)
            value = dict(m.value)
            kind = (
                str(value.get("kind"))
                if m.topic == topics.NOTICES
                else str(value.get("status"))
                if m.topic == topics.PAYMENTS
                else "dispute"
            )
            row = LifecycleOutbox(
                message_id=m.message_id,
                topic=m.topic,
                kind=kind,
                key=m.key,
                value=value,
                return_id=case.return_id,
                created_at=wall,
            )
            session.add(row)
            rows.append(row)
        return rows

    def _save_decision(
        self, session: Session, case: Case, result: DecisionOutcome, wall: dt.datetime
    ) -> None:
        if session.get(LifecycleDecision, result.decision_id) is not None:
            return
        session.add(
            LifecycleDecision(
                decision_id=result.decision_id,
                return_id=case.return_id,
                pinfl=case.pinfl,
                tax_year=case.tax_year,
                version=result.version,
                decision=result.decision,
                channel=result.channel,
                outcome=result.outcome,
                reason_code=result.reason_code,
                reason=result.reason,
                current_version=result.current_version,
                recorded_at=wall,
            )
        )

    def _save_decision_without_case(
        self, session: Session, result: DecisionOutcome, wall: dt.datetime
    ) -> None:
        if session.get(LifecycleDecision, result.decision_id) is not None:
            return
        session.add(
            LifecycleDecision(
                decision_id=result.decision_id,
                return_id=result.return_id,
                pinfl=result.pinfl,
                tax_year=result.tax_year,
                version=result.version,
                decision=result.decision,
                channel=result.channel,
                outcome=result.outcome,
                reason_code=result.reason_code,
                reason=result.reason,
                current_version=None,
                recorded_at=wall,
            )
        )

    def record_decision(self, result: DecisionOutcome, now: dt.datetime | None = None) -> None:
        """Keep the result of a decision no case could take (invalid, unknown return)."""
        with self._sessions() as session, session.begin():
            self._save_decision_without_case(session, result, now or dt.datetime.now(dt.UTC))

    # --- reads for the agents -----------------------------------------------------------

    def case(self, pinfl: str, tax_year: int) -> Case | None:
        with self._sessions() as session:
            row = self._row(session, None, (pinfl, tax_year), lock=False)
            return None if row is None else _to_case(session, row)

    def case_by_id(self, return_id: str) -> Case | None:
        with self._sessions() as session:
            row = self._row(session, return_id, None, lock=False)
            return None if row is None else _to_case(session, row)

    def due(self, today: dt.date, limit: int = 500) -> list[str]:
        """Returns the timer must look at today."""
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(LifecycleReturn.return_id)
                    .where(LifecycleReturn.next_due_on <= today)
                    .order_by(LifecycleReturn.next_due_on)
                    .limit(limit)
                )
            )

    def pending_payments(self, limit: int = 500) -> list[PendingPayment]:
        with self._sessions() as session:
            rows = session.scalars(
                select(LifecyclePayment)
                .where(LifecyclePayment.status == "pending")
                .order_by(LifecyclePayment.requested_at)
                .limit(limit)
            )
            return [_pending(r) for r in rows]

    def pending_payment(self, payment_id: str) -> PendingPayment | None:
        with self._sessions() as session:
            row = session.get(LifecyclePayment, payment_id)
            return None if row is None or row.status != "pending" else _pending(row)

    def payment_by_key(self, key: str) -> str | None:
        with self._sessions() as session:
            return session.scalars(
                select(LifecyclePayment.return_id).where(LifecyclePayment.idempotency_key == key)
            ).first()

    def return_of_payment(self, payment_id: str) -> str | None:
        with self._sessions() as session:
            row = session.get(LifecyclePayment, payment_id)
            return None if row is None else row.return_id

    def return_of_dispute(self, dispute_id: str) -> str | None:
        with self._sessions() as session:
            row = session.get(LifecycleDispute, dispute_id)
            return None if row is None else row.return_id

    # --- the outbox ---------------------------------------------------------------------

    def unpublished(self, created_before: dt.datetime, limit: int = 500) -> list[OutboxItem]:
        with self._sessions() as session:
            rows = session.scalars(
                select(LifecycleOutbox)
                .where(
                    LifecycleOutbox.published_at.is_(None),
                    LifecycleOutbox.created_at <= created_before,
                )
                .order_by(LifecycleOutbox.id)
                .limit(limit)
            )
            return [OutboxItem(r.id, r.topic, r.key, r.value) for r in rows]

    def mark_published(self, ids: Iterable[int], at: dt.datetime | None = None) -> None:
        ids = list(ids)
        if not ids:
            return
        at = at or dt.datetime.now(dt.UTC)
        for attempt in range(ATTEMPTS):
            try:
                with self._sessions() as session, session.begin():
                    session.execute(
                        update(LifecycleOutbox)
                        .where(LifecycleOutbox.id.in_(ids), LifecycleOutbox.published_at.is_(None))
                        .values(published_at=at)
                    )
                return
            except OperationalError:
                if attempt == ATTEMPTS - 1:
                    raise
                time.sleep(min(0.5, 0.02 * 2**attempt))

    def outbox(self, return_id: str | None = None, topic: str | None = None) -> list[OutboxItem]:
        with self._sessions() as session:
            query = select(LifecycleOutbox).order_by(LifecycleOutbox.id)
            if return_id is not None:
                query = query.where(LifecycleOutbox.return_id == return_id)
            if topic is not None:
                query = query.where(LifecycleOutbox.topic == topic)
            return [OutboxItem(r.id, r.topic, r.key, r.value) for r in session.scalars(query)]

    # --- reads for the bot, the portal and the dashboard ----------------------------------

    def decision(self, decision_id: str) -> LifecycleDecision | None:
        with self._sessions() as session:
            return session.get(LifecycleDecision, decision_id)

    def audit(self, pinfl: str, tax_year: int | None = None) -> list[LifecycleAudit]:
        with self._sessions() as session:
            query = select(LifecycleAudit).where(LifecycleAudit.pinfl == pinfl)
            if tax_year is not None:
                query = query.where(LifecycleAudit.tax_year == tax_year)
            return list(session.scalars(query.order_by(LifecycleAudit.id)))

    def payments(
        self, pinfl: str, tax_year: int | None = None, payment_id: str | None = None
    ) -> list[LifecyclePayment]:
        with self._sessions() as session:
            query = select(LifecyclePayment).where(LifecyclePayment.pinfl == pinfl)
            if tax_year is not None:
                query = query.where(LifecyclePayment.tax_year == tax_year)
            if payment_id is not None:
                query = query.where(LifecyclePayment.payment_id == payment_id)
            return list(session.scalars(query.order_by(LifecyclePayment.requested_at)))

    def disputes(
        self,
        *,
        pinfl: str | None = None,
        tax_year: int | None = None,
        statuses: Sequence[str] | None = None,
    ) -> list[Dispute]:
        with self._sessions() as session:
            query = select(LifecycleDispute)
            if pinfl is not None:
                query = query.where(LifecycleDispute.pinfl == pinfl)
            if tax_year is not None:
                query = query.where(LifecycleDispute.tax_year == tax_year)
            if statuses is not None:
                query = query.where(LifecycleDispute.status.in_(list(statuses)))
            return [
                dispute_of(r) for r in session.scalars(query.order_by(LifecycleDispute.respond_by))
            ]

    def returns_in(self, states: Sequence[str], tax_year: int | None = None) -> list[str]:
        with self._sessions() as session:
            query = select(LifecycleReturn.return_id).where(LifecycleReturn.state.in_(states))
            if tax_year is not None:
                query = query.where(LifecycleReturn.tax_year == tax_year)
            return list(session.scalars(query.order_by(LifecycleReturn.updated_at)))

    def funnel(self, tax_year: int) -> dict[str, Any]:
        """Counts and amounts for the dashboard and the demo: returns by state, notices by
        kind, disputes by status, taxpayers ever reaching each step, money in tiyin."""
        with self._sessions() as session:
            by_state = dict(
                session.execute(
                    select(LifecycleReturn.state, func.count())
                    .where(LifecycleReturn.tax_year == tax_year)
                    .group_by(LifecycleReturn.state)
                ).all()
            )
            notices = dict(
                session.execute(
                    select(LifecycleOutbox.kind, func.count())
                    .join(
                        LifecycleReturn,
                        LifecycleReturn.return_id == LifecycleOutbox.return_id,
                    )
                    .where(
                        LifecycleOutbox.topic == topics.NOTICES,
                        LifecycleReturn.tax_year == tax_year,
                    )
                    .group_by(LifecycleOutbox.kind)
                ).all()
            )
            disputes = dict(
                session.execute(
                    select(LifecycleDispute.status, func.count())
                    .where(LifecycleDispute.tax_year == tax_year)
                    .group_by(LifecycleDispute.status)
                ).all()
            )
            reached = dict(
                session.execute(
                    select(LifecycleAudit.to_state, func.count(func.distinct(LifecycleAudit.pinfl)))
                    .where(
                        LifecycleAudit.tax_year == tax_year,
                        LifecycleAudit.to_state.is_not(None),
                        or_(
                            LifecycleAudit.from_state.is_(None),
                            LifecycleAudit.from_state != LifecycleAudit.to_state,
                        ),
                    )
                    .group_by(LifecycleAudit.to_state)
                ).all()
            )
            money = dict(
                session.execute(
                    select(
                        LifecyclePayment.kind,
                        func.coalesce(func.sum(LifecyclePayment.principal_tiyin), 0),
                    )
                    .where(
                        LifecyclePayment.tax_year == tax_year,
                        LifecyclePayment.status == "succeeded",
                    )
                    .group_by(LifecyclePayment.kind)
                ).all()
            )
            interest = dict(
                session.execute(
                    select(
                        LifecyclePayment.kind,
                        func.coalesce(func.sum(LifecyclePayment.interest_tiyin), 0),
                    )
                    .where(
                        LifecyclePayment.tax_year == tax_year,
                        LifecyclePayment.status == "succeeded",
                    )
                    .group_by(LifecyclePayment.kind)
                ).all()
            )
            assessed = session.scalar(
                select(func.coalesce(func.sum(LifecycleReturn.balance_tiyin), 0)).where(
                    and_(LifecycleReturn.tax_year == tax_year, LifecycleReturn.balance_tiyin > 0)
                )
            )
        return {
            "returns": sum(by_state.values()),
            "by_state": {str(k): int(v) for k, v in by_state.items()},
            "reached": {str(k): int(v) for k, v in reached.items()},
            "notices": {str(k): int(v) for k, v in notices.items()},
            "disputes": {str(k): int(v) for k, v in disputes.items()},
            "assessed_tiyin": int(assessed or 0),
            "collected_tiyin": int(money.get("payment", 0)),
            "refunded_tiyin": int(money.get("refund", 0)),
            "interest_collected_tiyin": int(interest.get("payment", 0)),  # Art 110, from taxpayers
            "refund_interest_paid_tiyin": int(interest.get("refund", 0)),  # Art 104, to taxpayers
        }


class StubLedgerRepository:
    """Persistence of the gateway stub's ledger (``lifecycle.gateway.StubGateway``)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def get(self, key: str) -> StubGatewayEntry | None:
        with self._sessions() as session:
            return session.get(StubGatewayEntry, key)

    def insert(self, entry: StubGatewayEntry) -> tuple[StubGatewayEntry, bool]:
        """Insert, or return the entry another caller stored first (and False)."""
        try:
            with self._sessions() as session, session.begin():
                session.add(entry)
            return entry, True
        except IntegrityError:
            existing = self.get(entry.idempotency_key)
            assert existing is not None
            return existing, False

    def settle(self, key: str) -> None:
        with self._sessions() as session, session.begin():
            session.execute(
                update(StubGatewayEntry)
                .where(
                    StubGatewayEntry.idempotency_key == key, StubGatewayEntry.status == "pending"
                )
                .values(status="succeeded")
            )

    def entries(self, pinfl: str | None = None) -> list[StubGatewayEntry]:
        with self._sessions() as session:
            query = select(StubGatewayEntry).order_by(StubGatewayEntry.created_at)
            if pinfl is not None:
                query = query.where(StubGatewayEntry.pinfl == pinfl)
            return list(session.scalars(query))


# --- mapping ----------------------------------------------------------------------------


def _to_case(session: Session, row: LifecycleReturn) -> Case:
    payments = [
        Payment(
            payment_id=r.payment_id,
            idempotency_key=r.idempotency_key,
            kind=r.kind,  # type: ignore[arg-type]
            version=r.version,
            attempt=r.attempt,
            amount_tiyin=r.amount_tiyin,
            principal_tiyin=r.principal_tiyin,
            interest_tiyin=r.interest_tiyin,
            status=r.status,  # type: ignore[arg-type]
            reproducibility_hash=r.reproducibility_hash,
            requested_at=r.requested_at,
            settled_at=r.settled_at,
            provider_ref=r.provider_ref,
            account_ref=r.account_ref,
            channel=r.channel,
        )
        for r in session.scalars(
            select(LifecyclePayment)
            .where(LifecyclePayment.return_id == row.return_id)
            .order_by(LifecyclePayment.requested_at, LifecyclePayment.attempt)
        )
    ]
    disputes = [
        dispute_of(r)
        for r in session.scalars(
            select(LifecycleDispute)
            .where(LifecycleDispute.return_id == row.return_id)
            .order_by(LifecycleDispute.opened_at, LifecycleDispute.dispute_id)
        )
    ]
    notices = set(
        session.scalars(
            select(LifecycleOutbox.message_id).where(
                LifecycleOutbox.return_id == row.return_id,
                LifecycleOutbox.topic == topics.NOTICES,
            )
        )
    )
    return Case(
        return_id=row.return_id,
        pinfl=row.pinfl,
        tax_year=row.tax_year,
        state=State(row.state),
        version=Version.from_returns_v1(row.payload),
        payload=dict(row.payload),
        notified_version=row.notified_version,
        notified_on=row.notified_on,
        viewed_version=row.viewed_version,
        agreed_version=row.agreed_version,
        undisputed_tiyin=row.undisputed_tiyin,
        overdue_since=row.overdue_since,
        next_due_on=row.next_due_on,
        payments=payments,
        disputes=disputes,
        notices=notices,
    )


def _fill_row(row: LifecycleReturn, case: Case, wall: dt.datetime) -> None:
    assert case.state is not None
    row.pinfl = case.pinfl
    row.tax_year = case.tax_year
    row.state = str(case.state)
    row.version = case.version.number
    row.balance_tiyin = case.version.balance_tiyin
    row.declaration_required = case.version.declaration_required
    row.paid_net_tiyin = case.paid_net_tiyin
    if row.payload != case.payload:
        row.payload = case.payload
    row.notified_version = case.notified_version
    row.notified_on = case.notified_on
    row.viewed_version = case.viewed_version
    row.agreed_version = case.agreed_version
    row.undisputed_tiyin = case.undisputed_tiyin
    row.overdue_since = case.overdue_since
    row.next_due_on = case.next_due_on
    row.updated_at = wall  # always: bumps row_version, so concurrent writers conflict


def _audit_row(case: Case, record: AuditRecord, wall: dt.datetime) -> LifecycleAudit:
    return LifecycleAudit(
        return_id=case.return_id,
        pinfl=case.pinfl,
        tax_year=case.tax_year,
        version=record.version,
        event=record.event,
        from_state=None if record.from_state is None else str(record.from_state),
        to_state=None if record.to_state is None else str(record.to_state),
        actor=record.actor[:64],
        reason=record.reason,
        ref=record.ref[:80],
        details=dict(record.details),
        occurred_at=record.occurred_at,
        recorded_at=wall,
    )


def _pending(row: LifecyclePayment) -> PendingPayment:
    return PendingPayment(
        row.payment_id, row.return_id, row.pinfl, row.kind, row.amount_tiyin, row.idempotency_key
    )


def dispute_of(r: LifecycleDispute) -> Dispute:
    """A stored dispute as the lifecycle's one ``Dispute``."""
    return Dispute(
        dispute_id=r.dispute_id,
        pinfl=r.pinfl,
        tax_year=r.tax_year,
        version=r.version,
        line_code=r.line_code,
        subject=r.subject,
        registry=r.registry_name,
        record_id=r.record_id,
        revision=r.revision,
        reason_code=r.reason_code,
        comment=r.comment,
        opened_at=r.opened_at,
        respond_by=r.respond_by,
        status=r.status,  # type: ignore[arg-type]
        response_comment=r.response_comment,
        resolved_at=r.resolved_at,
        decision_id=r.decision_id,
    )
