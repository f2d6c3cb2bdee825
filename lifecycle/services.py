"""What the Telegram bot and the portal call: the lifecycle as a small service API.

Build one per process: ``LifecycleService.from_settings(settings, store, publisher)`` with
the SQL store (``storage.lifecycle.LifecycleRepository``); the
publisher (``lifecycle.publisher.KafkaDecisionPublisher``, started by the caller) is only
needed for ``submit_decision``. Every call takes the taxpayer's PINFL and returns only
that taxpayer's data (object-level authorisation is the caller's sign-in plus this).

- ``status(pinfl, tax_year)``: the return's state, version, amounts, deadlines.
- ``record_view(pinfl, tax_year, version, channel)``: the taxpayer opened the return
  (notified -> viewed); written at once.
- ``submit_decision(...)`` (async): checks the decision against the current state (the
  same rules the worker applies) and publishes it on ``decisions.v1``; refusals raise
  ``Refused`` at once (e.g. ``superseded_version`` with ``current_version``), a repeat
  returns ``status="duplicate"``; the worker applies it (within a second or so) and
  ``decision_result(pinfl, decision_id)`` then says applied / duplicate / refused and why
  (a race the pre-check could not see, e.g. a new version in between).
- ``request_payment(pinfl, tax_year, channel)``: Pay (again, after a decline; the
  undisputed part while disputed); written at once, the worker's reconciler takes the
  money within ``PROACTAX_PAYMENT_RECONCILE_INTERVAL_S``.
- ``receipts`` / ``receipt``: settled payments and refunds with the reproducibility hash.
- ``audit_log(pinfl, tax_year)``: the append-only history.
- ``disputes(pinfl, tax_year)``, ``review_queue(tax_year)``, ``funnel(tax_year)``: for the
  cabinet and the STC dashboard.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, cast

from contracts import records, topics
from contracts.returns_v1 import disputable  # published here too: the portal's sandbox picks lines
from contracts.validation import schema_problem
from core.clock import Clock, clock_for, rfc3339
from core.settings import Settings
from lifecycle import ids
from lifecycle.config import LifecycleConfig
from lifecycle.diff import LineChange, diff_versions
from lifecycle.ids import decision_id
from lifecycle.machine import Machine
from lifecycle.model import OPEN_DISPUTE as OPEN_DISPUTE  # the disputes a registry still owes
from lifecycle.model import Case, CommandResult, Dispute, Refused, State
from lifecycle.rules.common import local_day
from lifecycle.store import LifecycleStore
from tax import load_parameters

Channel = Literal["telegram", "portal"]
# A dispute as the bot, the portal and STC staff see it: the lifecycle's one Dispute.
DisputeView = Dispute

# The lifecycle's published surface: the bot and the portal import this module only
# (import-linter, "lifecycle-port"); besides the service, they use these rules and types.
__all__ = [
    "AuditEntry",
    "Channel",
    "DecisionPublisher",
    "DecisionReceipt",
    "DecisionResult",
    "DisputeView",
    "LifecycleService",
    "LineChange",
    "Receipt",
    "Refused",
    "ReturnStatus",
    "State",
    "decision_id",
    "diff_versions",
    "disputable",
]


class DecisionPublisher(Protocol):
    async def publish(self, key: bytes, value: bytes) -> None:
        """Put one decisions.v1 message on the broker; return once it is acknowledged."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class ReturnStatus:
    return_id: str
    pinfl: str
    tax_year: int
    version: int
    state: str
    balance_tiyin: int  # of the current version: > 0 payable, < 0 refund
    paid_tiyin: int  # principal received minus refunds paid, over every version
    outstanding_tiyin: int  # balance - paid: > 0 still to pay, < 0 refund due
    payable_now_tiyin: int  # what Pay would ask for today (the undisputed part if disputed)
    interest_tiyin: int | None  # late-payment interest on payable_now to today (None: no rate)
    declaration_required: bool
    declaration_deadline: str
    payment_deadline: str
    notified_version: int | None
    agreed_version: int | None
    overdue_since: str | None
    open_disputes: int
    payment_in_progress: bool


@dataclasses.dataclass(frozen=True, slots=True)
class DecisionReceipt:
    decision_id: str
    status: Literal["accepted", "duplicate"]
    return_id: str
    version: int


@dataclasses.dataclass(frozen=True, slots=True)
class DecisionResult:
    decision_id: str
    outcome: str  # applied | duplicate | refused
    reason_code: str
    reason: str
    current_version: int | None
    recorded_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class Receipt:
    receipt_id: str  # the payment id
    kind: str  # payment | refund
    return_id: str
    tax_year: int
    version: int
    amount_tiyin: int
    principal_tiyin: int
    interest_tiyin: int
    settled_at: dt.datetime | None
    reproducibility_hash: str
    idempotency_key: str
    provider_ref: str
    account_ref: str


@dataclasses.dataclass(frozen=True, slots=True)
class AuditEntry:
    occurred_at: dt.datetime
    event: str
    from_state: str | None
    to_state: str | None
    actor: str
    reason: str
    version: int
    ref: str
    details: Mapping[str, Any]


class LifecycleService:
    def __init__(
        self,
        repository: LifecycleStore,
        machine: Machine,
        clock: Clock,
        publisher: DecisionPublisher | None = None,
    ) -> None:
        self.repository = repository
        self.machine = machine
        self.clock = clock
        self.publisher = publisher

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        store: LifecycleStore,
        publisher: DecisionPublisher | None = None,
        clock: Clock | None = None,
    ) -> LifecycleService:
        machine = Machine(LifecycleConfig.from_settings(settings).policy(load_parameters()))
        return cls(store, machine, clock or clock_for(settings), publisher)

    # --- reads --------------------------------------------------------------------------

    def status(self, pinfl: str, tax_year: int) -> ReturnStatus | None:
        case = self.repository.case(pinfl, tax_year)
        return None if case is None else self._status(case)

    def decision_result(self, pinfl: str, decision_id: str) -> DecisionResult | None:
        row = self.repository.decision(decision_id)
        if row is None or row.pinfl != pinfl:
            return None
        return DecisionResult(
            row.decision_id,
            row.outcome,
            row.reason_code,
            row.reason,
            row.current_version,
            row.recorded_at,
        )

    def receipts(self, pinfl: str, tax_year: int | None = None) -> list[Receipt]:
        """Settled payments and refunds, oldest first."""
        return [
            _receipt(row)
            for row in self.repository.payments(pinfl, tax_year)
            if row.status == "succeeded"
        ]

    def receipt(self, pinfl: str, receipt_id: str) -> Receipt | None:
        rows = self.repository.payments(pinfl, payment_id=receipt_id)
        return _receipt(rows[0]) if rows and rows[0].status == "succeeded" else None

    def audit_log(self, pinfl: str, tax_year: int | None = None) -> list[AuditEntry]:
        return [
            AuditEntry(
                row.occurred_at,
                row.event,
                row.from_state,
                row.to_state,
                row.actor,
                row.reason,
                row.version,
                row.ref,
                row.details,
            )
            for row in self.repository.audit(pinfl, tax_year)
        ]

    def disputes(self, pinfl: str, tax_year: int | None = None) -> list[Dispute]:
        return list(self.repository.disputes(pinfl=pinfl, tax_year=tax_year))

    def review_queue(self, tax_year: int | None = None) -> list[Dispute]:
        """STC staff: disputes waiting for the review (unanswered, or disputed again)."""
        return list(
            self.repository.disputes(tax_year=tax_year, statuses=("unanswered", "escalated"))
        )

    def funnel(self, tax_year: int) -> dict[str, Any]:
        return self.repository.funnel(tax_year)

    # --- writes -------------------------------------------------------------------------

    def record_view(
        self, pinfl: str, tax_year: int, version: int, channel: Channel
    ) -> ReturnStatus:
        """The taxpayer opened ``version`` of the return in the bot or the portal."""
        now = self.clock.now()

        def command(case: Case | None) -> CommandResult:
            return self.machine.on_view(case, version, channel, now)

        applied = self.repository.apply(command, taxpayer=(pinfl, tax_year))
        assert applied.outcome.case is not None
        return self._status(applied.outcome.case)

    def request_payment(self, pinfl: str, tax_year: int, channel: Channel) -> ReturnStatus:
        """Pay what is payable now; raises ``Refused`` (nothing_to_pay, ...)."""
        now = self.clock.now()

        def command(case: Case | None) -> CommandResult:
            return self.machine.on_payment_request(case, channel, now)

        applied = self.repository.apply(command, taxpayer=(pinfl, tax_year))
        assert applied.outcome.case is not None
        return self._status(applied.outcome.case)

    async def submit_decision(
        self,
        pinfl: str,
        tax_year: int,
        version: int,
        decision: Literal["agree", "disagree"],
        channel: Channel,
        lines: Sequence[Mapping[str, str]] = (),
        decision_id: str | None = None,
    ) -> DecisionReceipt:
        """Check and publish a decision (``lines``: ``{"code", "subject"?, "reason_code",
        "comment"}`` for a disagreement). Raises ``Refused`` with a machine-readable code."""
        case = self.repository.case(pinfl, tax_year)
        if case is None:
            raise Refused("unknown_return", "There is no such return.")
        value: records.Decision = {
            "decision_id": decision_id or ids.decision_id(case.return_id, version, decision, lines),
            "return_id": case.return_id,
            "pinfl": pinfl,
            "tax_year": tax_year,
            "version": version,
            "decision": decision,
            "channel": channel,
            "decided_at": rfc3339(self.clock.now()),
        }
        if decision == "disagree" or lines:
            value["lines"] = [cast(records.DecisionLine, dict(line)) for line in lines]
        problem = schema_problem(value, topics.DECISIONS)
        if problem is not None:
            raise Refused("bad_request", f"{problem.field}: {problem.reason}")
        if self.repository.decision(value["decision_id"]) is not None:
            return DecisionReceipt(value["decision_id"], "duplicate", case.return_id, version)
        verdict = self.machine.judge(case, value)
        if verdict.outcome == "refuse":
            raise Refused(verdict.code, verdict.message, case.version.number)  # type: ignore[arg-type]
        if verdict.outcome == "duplicate":
            return DecisionReceipt(value["decision_id"], "duplicate", case.return_id, version)
        if self.publisher is None:
            raise RuntimeError("LifecycleService has no decision publisher")
        await self.publisher.publish(pinfl.encode(), json.dumps(value, ensure_ascii=False).encode())
        return DecisionReceipt(value["decision_id"], "accepted", case.return_id, version)

    # --- helpers ------------------------------------------------------------------------

    def _status(self, case: Case) -> ReturnStatus:
        today = local_day(self.clock.now())
        payable = self.machine.payable_now(case)
        return ReturnStatus(
            return_id=case.return_id,
            pinfl=case.pinfl,
            tax_year=case.tax_year,
            version=case.version.number,
            state=str(case.state),
            balance_tiyin=case.version.balance_tiyin,
            paid_tiyin=case.paid_net_tiyin,
            outstanding_tiyin=case.outstanding_tiyin,
            payable_now_tiyin=payable,
            interest_tiyin=self.machine.interest(case, payable, today),
            declaration_required=case.version.declaration_required,
            declaration_deadline=case.version.declaration_deadline.isoformat(),
            payment_deadline=case.version.payment_deadline.isoformat(),
            notified_version=case.notified_version,
            agreed_version=case.agreed_version,
            overdue_since=None if case.overdue_since is None else case.overdue_since.isoformat(),
            open_disputes=sum(
                1 for d in case.current_disputes() if d.status in ("open", "unanswered")
            ),
            payment_in_progress=bool(case.pending_payments)
            or case.state
            in (
                State.PAYMENT_PENDING,
                State.REFUND_PENDING,
            ),
        )


def _receipt(row: Any) -> Receipt:
    return Receipt(
        receipt_id=row.payment_id,
        kind=row.kind,
        return_id=row.return_id,
        tax_year=row.tax_year,
        version=row.version,
        amount_tiyin=row.amount_tiyin,
        principal_tiyin=row.principal_tiyin,
        interest_tiyin=row.interest_tiyin,
        settled_at=row.settled_at,
        reproducibility_hash=row.reproducibility_hash,
        idempotency_key=row.idempotency_key,
        provider_ref=row.provider_ref,
        account_ref=row.account_ref,
    )
