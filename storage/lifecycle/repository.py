"""The lifecycle's one write path (the queries it inherits are in ``reads``).

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
from collections.abc import Callable, Iterable

from sqlalchemy import (
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from contracts import topics
from lifecycle.model import (
    AuditRecord,
    Case,
    CommandResult,
    DecisionOutcome,
)
from storage.lifecycle.reads import LifecycleReads, OutboxItem, case_of
from storage.lifecycle.tables import (
    LifecycleAudit,
    LifecycleDecision,
    LifecycleDispute,
    LifecycleOutbox,
    LifecyclePayment,
    LifecycleReturn,
)

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class Applied:
    outcome: CommandResult
    outbox: list[OutboxItem]


Command = Callable[[Case | None], CommandResult]
RETRYABLE = (OperationalError, IntegrityError, StaleDataError)
# What a caller may retry later (the database is away or busy); anything else is a bug.
DATABASE_ERRORS: tuple[type[Exception], ...] = (DBAPIError, StaleDataError)
ATTEMPTS = 12


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


class LifecycleRepository(LifecycleReads):
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
            case = case_of(session, row) if row is not None else None
            outcome = command(case)
            if not outcome.changed or outcome.case is None:
                if outcome.decision is not None and outcome.case is None:
                    self._save_decision(session, None, outcome.decision, wall)
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
        self, session: Session, case: Case, outcome: CommandResult, wall: dt.datetime
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
        self, session: Session, case: Case | None, result: DecisionOutcome, wall: dt.datetime
    ) -> None:
        """Once per decision id; without a case (invalid, unknown return) the result names
        the return itself and has no current version."""
        if session.get(LifecycleDecision, result.decision_id) is not None:
            return
        session.add(
            LifecycleDecision(
                decision_id=result.decision_id,
                return_id=result.return_id if case is None else case.return_id,
                pinfl=result.pinfl if case is None else case.pinfl,
                tax_year=result.tax_year if case is None else case.tax_year,
                version=result.version,
                decision=result.decision,
                channel=result.channel,
                outcome=result.outcome,
                reason_code=result.reason_code,
                reason=result.reason,
                current_version=None if case is None else result.current_version,
                recorded_at=wall,
            )
        )

    def record_decision(self, result: DecisionOutcome, now: dt.datetime | None = None) -> None:
        """Keep the result of a decision no case could take (invalid, unknown return)."""
        with self._sessions() as session, session.begin():
            self._save_decision(session, None, result, now or dt.datetime.now(dt.UTC))

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
