"""The lifecycle's tables: one row per return, its payments and disputes, an append-only
audit log, an outbox of messages to publish, decision results, and the payment-gateway
stub's own ledger."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base
from storage.models import CompressedJSON
from storage.types import UtcDateTime

_ID = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER only


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
