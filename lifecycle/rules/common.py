"""What every group of the state machine's rules shares: the policy, the actors, the
calendar day, and the steps every command is made of (move the case, note an audit entry,
send a notice, start a payment, schedule the timer) plus the money figures (interest,
refund due dates, what is payable now)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal

from contracts import topics
from core.clock import TASHKENT, rfc3339
from lifecycle import ids
from lifecycle.model import (
    TRANSITIONS,
    AuditRecord,
    Case,
    CommandResult,
    IllegalTransition,
    OutgoingMessage,
    Payment,
    PaymentKind,
    RefusalCode,
    Refused,
    State,
    Version,
)
from lifecycle.schedule import next_reminder_on
from tax.errors import MissingParameter
from tax.interest import late_payment_interest, late_refund_interest, refund_due_date
from tax.parameters.model import ParameterSet

ENGINE = "tax engine (returns.v1)"
TIMER = "lifecycle timer"
LIFECYCLE = "lifecycle"
AWAITING = frozenset({State.COMPUTED, State.NOTIFIED, State.VIEWED, State.OVERDUE})
PAYABLE_AFTER_DEADLINE = frozenset({State.COMPUTED, State.NOTIFIED, State.VIEWED, State.AGREED})


def local_day(at: dt.datetime) -> dt.date:
    return at.astimezone(TASHKENT).date()


@dataclasses.dataclass(frozen=True, slots=True)
class Policy:
    """The rules' knobs (from settings) and the law (for interest, rates, the calendar)."""

    parameters: ParameterSet
    reminder_days: tuple[int, ...] = (30, 7, 1)  # before the declaration deadline
    payment_reminder_days: tuple[int, ...] = (30, 7, 1)  # before the payment deadline
    dispute_working_days: int = 10  # a registry answers within this many working days


def version_details(version: Version) -> dict[str, Any]:
    return {
        "version": version.number,
        "balance_tiyin": version.balance_tiyin,
        "declaration_required": version.declaration_required,
        "reproducibility_hash": version.reproducibility_hash,
    }


def payment_details(payment: Payment) -> dict[str, Any]:
    return {
        "payment_id": payment.payment_id,
        "kind": payment.kind,
        "amount_tiyin": payment.amount_tiyin,
        "principal_tiyin": payment.principal_tiyin,
        "interest_tiyin": payment.interest_tiyin,
        "idempotency_key": payment.idempotency_key,
    }


def payment_message(case: Case, payment: Payment, at: dt.datetime) -> OutgoingMessage:
    value: dict[str, Any] = {
        "payment_id": payment.payment_id,
        "return_id": case.return_id,
        "pinfl": case.pinfl,
        "tax_year": case.tax_year,
        "version": payment.version,
        "kind": payment.kind,
        "amount_tiyin": payment.amount_tiyin,
        "status": payment.status,
        "idempotency_key": payment.idempotency_key,
        "reproducibility_hash": payment.reproducibility_hash,
        "occurred_at": rfc3339(at),
        "principal_tiyin": payment.principal_tiyin,
        "interest_tiyin": payment.interest_tiyin,
    }
    if payment.provider_ref:
        value["provider_ref"] = payment.provider_ref
    if payment.account_ref:
        value["account_ref"] = payment.account_ref
    return OutgoingMessage(
        f"{payment.payment_id}:{payment.status}", topics.PAYMENTS, case.pinfl, value
    )


RefusalCodes: tuple[RefusalCode, ...] = (
    "unknown_return",
    "superseded_version",
    "unknown_version",
    "already_settled",
    "in_review",
    "no_lines",
    "unknown_line",
    "line_not_disputable",
    "payment_in_progress",
    "nothing_to_pay",
    "bad_request",
)


class Steps:
    """The steps the rules are made of (every group of rules inherits them)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def interest(self, case: Case, principal: int, today: dt.date) -> int | None:
        """Late-payment interest on ``principal`` from the day after the payment deadline to
        ``today`` (tax.late_payment_interest); None when the law has no rate for a day."""
        deadline = case.version.payment_deadline
        if principal <= 0 or today <= deadline:
            return 0
        try:
            return late_payment_interest(principal, deadline, today, self.policy.parameters)
        except MissingParameter:
            return None

    def refund_due_on(self, case: Case, version: int) -> dt.date | None:
        """The day the refund of ``version`` is due by (Tax Code Art 104): the application
        is the first refund asked for that version (the agreement, or the day a lower
        version arrived). None when none was asked yet or the law has no value."""
        first = next(
            (p for p in case.payments if p.kind == "refund" and p.version == version), None
        )
        if first is None:
            return None
        try:
            return refund_due_date(local_day(first.requested_at), self.policy.parameters)
        except MissingParameter:
            return None

    def refund_interest(self, case: Case, principal: int, version: int, at: dt.datetime) -> int:
        """Late-refund interest owed on ``principal`` paid at ``at`` (0 when on time)."""
        due, today = self.refund_due_on(case, version), local_day(at)
        if due is None or principal <= 0 or today <= due:
            return 0
        try:
            return late_refund_interest(principal, due, today, self.policy.parameters)
        except MissingParameter:
            return 0

    def payable_now(self, case: Case) -> int:
        """What the taxpayer is asked to pay today (0 when nothing, or a refund)."""
        if case.state in (State.NOTIFIED, State.VIEWED, State.AGREED, State.OVERDUE):
            return max(0, case.outstanding_tiyin)
        if case.state in (State.DISPUTED, State.REVIEW):
            return case.undisputed_outstanding_tiyin
        return 0

    def _check_version(self, case: Case, version: int) -> None:
        current = case.version.number
        if version < current:
            raise Refused(
                "superseded_version",
                f"Version {version} was superseded by version {current}; decide on version "
                f"{current}.",
                current,
            )
        if version > current:
            raise Refused("unknown_version", f"Version {version} is not known yet.", current)

    def _move(
        self,
        out: CommandResult,
        to: State,
        event: str,
        actor: str,
        reason: str,
        at: dt.datetime,
        ref: str = "",
        details: Mapping[str, Any] | None = None,
    ) -> None:
        case = out.case
        assert case is not None
        if to not in TRANSITIONS[case.state]:
            raise IllegalTransition(case.state, to, event)
        out.audit.append(
            AuditRecord(
                event, case.state, to, actor, reason, at, case.version.number, ref, details or {}
            )
        )
        case.state = to
        out.changed = True

    def transition(
        self, case: Case, to: State, event: str, actor: str, at: dt.datetime
    ) -> CommandResult:
        """A bare transition (checked against the table); the commands above use it."""
        out = CommandResult(case)
        self._move(out, to, event, actor, event, at)
        return out

    def _note(
        self,
        out: CommandResult,
        event: str,
        actor: str,
        reason: str,
        at: dt.datetime,
        ref: str = "",
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """An audit entry without a change of state (payments, disputes, deliveries)."""
        case = out.case
        assert case is not None
        out.audit.append(
            AuditRecord(
                event, case.state, case.state, actor, reason, at, case.version.number, ref,
                details or {},
            )
        )  # fmt: skip
        out.changed = True

    def _sent(self, case: Case, kind: str, occasion: str) -> bool:
        return ids.notice_id(kind, case.return_id, case.version.number, occasion) in case.notices

    def _notice(
        self,
        out: CommandResult,
        kind: str,
        at: dt.datetime,
        occasion: str = "",
        deadline: dt.date | Literal["declaration"] | None = "declaration",
        balance: int | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> bool:
        """Queue a notices.v1 message unless this (version, kind, occasion) had one."""
        case = out.case
        assert case is not None
        notice_id = ids.notice_id(kind, case.return_id, case.version.number, occasion)
        if notice_id in case.notices:
            return False
        case.notices.add(notice_id)
        when = case.version.declaration_deadline if deadline == "declaration" else deadline
        value = {
            "notice_id": notice_id,
            "kind": kind,
            "pinfl": case.pinfl,
            "tax_year": case.tax_year,
            "return_id": case.return_id,
            "version": case.version.number,
            "created_at": rfc3339(at),
            "deadline": None if when is None else when.isoformat(),
            "balance_tiyin": case.outstanding_tiyin if balance is None else balance,
            "details": {
                "state": str(case.state),
                "declaration_required": case.version.declaration_required,
                "payment_deadline": case.version.payment_deadline.isoformat(),
                "reproducibility_hash": case.version.reproducibility_hash,
                **(details or {}),
            },
        }
        out.messages.append(OutgoingMessage(notice_id, topics.NOTICES, case.pinfl, value))
        out.changed = True
        return True

    def _start(
        self,
        out: CommandResult,
        kind: PaymentKind,
        principal: int,
        interest: int,
        at: dt.datetime,
        channel: str,
    ) -> Payment:
        case = out.case
        assert case is not None
        number = case.version.number
        attempt = 1 + sum(1 for p in case.payments if p.kind == kind and p.version == number)
        key = ids.payment_key(case.return_id, number, kind, attempt)
        payment = Payment(
            payment_id=ids.payment_id(key),
            idempotency_key=key,
            kind=kind,
            version=number,
            attempt=attempt,
            amount_tiyin=principal + interest,
            principal_tiyin=principal,
            interest_tiyin=interest,
            status="pending",
            reproducibility_hash=case.version.reproducibility_hash,
            requested_at=at,
            channel=channel,
        )
        case.payments.append(payment)
        out.gateway_calls.append(payment.payment_id)
        out.messages.append(payment_message(case, payment, at))
        return payment

    def _schedule(self, case: Case, today: dt.date) -> None:
        """The next day the timer must look at this case (None: nothing scheduled)."""
        version, dates = case.version, []
        dates += [
            d.respond_by + dt.timedelta(days=1)
            for d in case.current_disputes()
            if d.status == "open"
        ]
        after_deadline = version.payment_deadline + dt.timedelta(days=1)
        if not case.pending_payments:
            if case.state in PAYABLE_AFTER_DEADLINE and case.outstanding_tiyin > 0:
                dates.append(after_deadline)
            elif (
                case.state in (State.DISPUTED, State.REVIEW)
                and case.undisputed_outstanding_tiyin > 0
                and case.overdue_since is None
            ):
                dates.append(after_deadline)
        if case.state in (State.NOTIFIED, State.VIEWED) and version.due:
            on = next_reminder_on(
                version.declaration_deadline,
                self.policy.reminder_days,
                case.notified_on,
                today,
                lambda d: self._sent(case, "reminder", f"d{d}"),
            )
            dates += [on] if on else []
        if self.payable_now(case) > 0:
            on = next_reminder_on(
                version.payment_deadline,
                self.policy.payment_reminder_days,
                case.notified_on,
                today,
                lambda d: self._sent(case, "payment_due_reminder", f"d{d}"),
            )
            dates += [on] if on else []
        case.next_due_on = min(dates) if dates else None
