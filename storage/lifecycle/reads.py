"""What the lifecycle's tables answer: a case as the machine sees it, what is due, pending
payments, the outbox, the audit log, disputes and the season's funnel."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    and_,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Session, sessionmaker

from contracts import topics
from lifecycle.model import (
    Case,
    Dispute,
    Payment,
    State,
    Version,
)
from storage.lifecycle.tables import (
    LifecycleAudit,
    LifecycleDecision,
    LifecycleDispute,
    LifecycleOutbox,
    LifecyclePayment,
    LifecycleReturn,
)


@dataclasses.dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    topic: str
    key: str
    value: dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class PendingPayment:
    payment_id: str
    return_id: str
    pinfl: str
    kind: str
    amount_tiyin: int
    idempotency_key: str


def case_of(session: Session, row: LifecycleReturn) -> Case:
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


class LifecycleReads:
    """The read side of ``LifecycleRepository`` (queries; no writes)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

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

    def case(self, pinfl: str, tax_year: int) -> Case | None:
        with self._sessions() as session:
            row = self._row(session, None, (pinfl, tax_year), lock=False)
            return None if row is None else case_of(session, row)

    def case_by_id(self, return_id: str) -> Case | None:
        with self._sessions() as session:
            row = self._row(session, return_id, None, lock=False)
            return None if row is None else case_of(session, row)

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

    def owner_of_dispute(self, dispute_id: str) -> tuple[str, str] | None:
        """(registry, pinfl) of a dispute, or None."""
        with self._sessions() as session:
            row = session.get(LifecycleDispute, dispute_id)
            return None if row is None else (row.registry_name, row.pinfl)

    def return_of_dispute(self, dispute_id: str) -> str | None:
        with self._sessions() as session:
            row = session.get(LifecycleDispute, dispute_id)
            return None if row is None else row.return_id

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

    def outbox(self, return_id: str | None = None, topic: str | None = None) -> list[OutboxItem]:
        with self._sessions() as session:
            query = select(LifecycleOutbox).order_by(LifecycleOutbox.id)
            if return_id is not None:
                query = query.where(LifecycleOutbox.return_id == return_id)
            if topic is not None:
                query = query.where(LifecycleOutbox.topic == topic)
            return [OutboxItem(r.id, r.topic, r.key, r.value) for r in session.scalars(query)]

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
        registry: str | None = None,
    ) -> list[Dispute]:
        with self._sessions() as session:
            query = select(LifecycleDispute)
            if registry is not None:
                query = query.where(LifecycleDispute.registry_name == registry)
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
