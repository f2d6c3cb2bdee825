"""States, the case of one return (its current version, payments, disputes, notices) and
what applying a command yields (audit entries, outgoing messages, gateway calls).

Everything here is plain data: the machine (``lifecycle.machine``) reads and changes a
``Case``; ``storage.lifecycle`` loads and saves it in one transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Mapping
from typing import Any, Literal


class State(enum.StrEnum):
    COMPUTED = "computed"  # a version exists; the taxpayer has not been told yet
    NOTHING_DUE = "nothing_due"  # no declaration required, balance 0: no notice
    NOTIFIED = "notified"  # a first notice or amendment was delivered (or back from a dispute)
    VIEWED = "viewed"  # the taxpayer opened it in the bot or the portal
    AGREED = "agreed"  # agreed; nothing in flight (nothing to pay, or a payment declined)
    PAYMENT_PENDING = "payment_pending"  # a payment is with the gateway
    PAID = "paid"
    REFUND_PENDING = "refund_pending"  # a refund is with the gateway
    REFUNDED = "refunded"
    DISAGREED = "disagreed"  # a disagreement was recorded (disputes being opened)
    DISPUTED = "disputed"  # disputes are with the registries
    REVIEW = "review"  # STC review queue: a registry did not answer, or a refund failed
    OVERDUE = "overdue"  # unpaid after the payment deadline; late-payment interest accrues


# States where the money of the current version is settled or moving.
SETTLED = frozenset({State.PAID, State.REFUNDED})
IN_FLIGHT = frozenset({State.PAYMENT_PENDING, State.REFUND_PENDING})
# Where a new version may lead (money decides: see machine._rest).
_NEW_VERSION = frozenset(
    {State.COMPUTED, State.NOTHING_DUE, State.REFUND_PENDING, State.PAID, State.REFUNDED}
)

# Every allowed transition; anything else is an IllegalTransition. A state listed in its
# own set may "move" to itself (a new version while paid, more disputed lines, ...).
TRANSITIONS: Mapping[State | None, frozenset[State]] = {
    None: frozenset({State.COMPUTED}),
    State.COMPUTED: _NEW_VERSION
    | {State.NOTIFIED, State.VIEWED, State.AGREED, State.DISAGREED, State.OVERDUE},
    State.NOTHING_DUE: _NEW_VERSION | {State.AGREED, State.DISAGREED},
    State.NOTIFIED: _NEW_VERSION | {State.VIEWED, State.AGREED, State.DISAGREED, State.OVERDUE},
    State.VIEWED: _NEW_VERSION | {State.AGREED, State.DISAGREED, State.OVERDUE},
    State.AGREED: _NEW_VERSION
    | {State.PAYMENT_PENDING, State.REFUND_PENDING, State.DISAGREED, State.OVERDUE},
    State.PAYMENT_PENDING: frozenset(
        {State.PAYMENT_PENDING, State.PAID, State.AGREED, State.REFUND_PENDING}
        | {State.COMPUTED, State.NOTIFIED}
    ),
    State.PAID: _NEW_VERSION,
    State.REFUND_PENDING: frozenset(
        {State.REFUND_PENDING, State.REFUNDED, State.PAID, State.REVIEW}
        | {State.COMPUTED, State.NOTIFIED}
    ),
    State.REFUNDED: _NEW_VERSION,
    State.DISAGREED: frozenset({State.DISPUTED, State.REVIEW}),
    State.DISPUTED: _NEW_VERSION
    | {State.DISPUTED, State.DISAGREED, State.NOTIFIED, State.REVIEW, State.AGREED},
    State.REVIEW: _NEW_VERSION | {State.REVIEW, State.NOTIFIED, State.AGREED},
    State.OVERDUE: _NEW_VERSION | {State.AGREED, State.DISAGREED},
}


class LifecycleError(Exception):
    """Base of the lifecycle's typed errors."""


class IllegalTransition(LifecycleError):
    """The rules tried a transition the state machine does not have (a bug, never input)."""

    def __init__(self, from_state: State | None, to_state: State, event: str) -> None:
        self.from_state, self.to_state, self.event = from_state, to_state, event
        super().__init__(f"illegal transition {from_state} -> {to_state} on {event}")


RefusalCode = Literal[
    "unknown_return",  # no such return (or not this taxpayer's)
    "superseded_version",  # a newer version exists: current_version says which
    "unknown_version",  # a version the lifecycle has not seen yet
    "already_settled",  # paid, refunded or money in flight: corrections come as new versions
    "in_review",  # with the STC review queue
    "no_lines",  # a disagreement names no line
    "unknown_line",  # a line code (and subject) not in that version
    "line_not_disputable",  # a computed line (base, tax, credit, result): dispute its sources
    "payment_in_progress",
    "nothing_to_pay",
    "bad_request",  # not valid against decisions.v1
]


class Refused(LifecycleError):
    """A command the current state does not accept; ``code`` is machine-readable."""

    def __init__(self, code: RefusalCode, message: str, current_version: int | None = None):
        self.code, self.message, self.current_version = code, message, current_version
        super().__init__(f"{code}: {message}")


@dataclasses.dataclass(frozen=True, slots=True)
class Source:
    registry: str
    record_id: str
    revision: int


@dataclasses.dataclass(frozen=True, slots=True)
class Line:
    code: str
    subject: str
    amount_tiyin: int
    sources: tuple[Source, ...]

    @property
    def key(self) -> tuple[str, str]:
        return (self.code, self.subject)


@dataclasses.dataclass(frozen=True, slots=True)
class Version:
    """What the lifecycle needs of one ``returns.v1`` value."""

    number: int
    balance_tiyin: int
    declaration_required: bool
    reproducibility_hash: str
    declaration_deadline: dt.date
    payment_deadline: dt.date
    lines: tuple[Line, ...]

    @property
    def due(self) -> bool:
        """Something for the taxpayer to do: a declaration, a payment or a refund."""
        return self.declaration_required or self.balance_tiyin != 0

    @classmethod
    def from_returns_v1(cls, value: Mapping[str, Any]) -> Version:
        return cls(
            number=int(value["version"]),
            balance_tiyin=int(value["totals"]["balance_tiyin"]),
            declaration_required=bool(value["declaration_required"]),
            reproducibility_hash=str(value["reproducibility_hash"]),
            declaration_deadline=dt.date.fromisoformat(value["deadlines"]["declaration"]),
            payment_deadline=dt.date.fromisoformat(value["deadlines"]["payment"]),
            lines=tuple(
                Line(
                    code=line["code"],
                    subject=line.get("subject", "") or "",
                    amount_tiyin=int(line["amount_tiyin"]),
                    sources=tuple(
                        Source(s["registry"], s["record_id"], int(s["revision"]))
                        for s in line.get("sources", ())
                    ),
                )
                for line in value["lines"]
            ),
        )


PaymentKind = Literal["payment", "refund"]
PaymentStatus = Literal["pending", "succeeded", "declined", "failed"]


@dataclasses.dataclass(slots=True)
class Payment:
    payment_id: str
    idempotency_key: str
    kind: PaymentKind
    version: int
    attempt: int
    amount_tiyin: int  # what moves: principal + interest
    principal_tiyin: int  # counts against the return's balance
    interest_tiyin: int  # late-payment interest (Art 110), never against the balance
    status: PaymentStatus
    reproducibility_hash: str  # of the version paid: printed on the receipt
    requested_at: dt.datetime
    settled_at: dt.datetime | None = None
    provider_ref: str = ""
    account_ref: str = ""  # refunds: the account on file the money went to (masked)
    channel: str = ""  # who started it: telegram, portal, lifecycle (automatic refunds)


DisputeStatus = Literal[
    "open",  # with the registry, before respond_by
    "unanswered",  # respond_by passed without an answer: STC review
    "escalated",  # confirmed by the registry, disputed again by the taxpayer: STC review
    "confirmed",  # the registry confirmed the record as it stands
    "corrected",  # a new revision (or a void) of the record arrived: a new version
    "superseded",  # a new version arrived for other reasons: dispute again if still wrong
    "withdrawn",  # the taxpayer agreed after all
]
OPEN_DISPUTE: frozenset[str] = frozenset({"open", "unanswered", "escalated"})


@dataclasses.dataclass(slots=True)
class Dispute:
    """One registry record disputed on one line: the only definition of a dispute's fields
    (the machine's, the services', the dashboard's; ``disputes.v1`` is made from it)."""

    dispute_id: str
    pinfl: str
    tax_year: int
    version: int
    line_code: str
    subject: str
    registry: str
    record_id: str
    revision: int
    reason_code: str
    comment: str
    opened_at: dt.datetime
    respond_by: dt.date
    status: DisputeStatus = "open"
    response_comment: str = ""
    resolved_at: dt.datetime | None = None
    decision_id: str = ""


@dataclasses.dataclass(slots=True)
class Case:
    """One return (one taxpayer, one tax year) in the lifecycle."""

    return_id: str
    pinfl: str
    tax_year: int
    state: State | None  # None only before the first version is applied
    version: Version
    payload: dict[str, Any]  # the current returns.v1 value (diffs, disputes, the portal)
    notified_version: int | None = None  # the newest version the taxpayer was told about
    notified_on: dt.date | None = None  # when (reminders count from here)
    viewed_version: int | None = None
    agreed_version: int | None = None
    undisputed_tiyin: int | None = None  # payable while disputed (None: not disputed)
    overdue_since: dt.date | None = None
    next_due_on: dt.date | None = None  # the timer looks at the case on or after this day
    payments: list[Payment] = dataclasses.field(default_factory=list)
    disputes: list[Dispute] = dataclasses.field(default_factory=list)
    notices: set[str] = dataclasses.field(default_factory=set)  # notice ids already sent

    @property
    def paid_net_tiyin(self) -> int:
        """Principal received minus refunds paid out, over every version."""
        total = 0
        for p in self.payments:
            if p.status == "succeeded":
                total += p.principal_tiyin if p.kind == "payment" else -p.principal_tiyin
        return total

    @property
    def outstanding_tiyin(self) -> int:
        """> 0 the taxpayer owes this much more; < 0 the service owes a refund."""
        return self.version.balance_tiyin - self.paid_net_tiyin

    @property
    def undisputed_outstanding_tiyin(self) -> int:
        """What is payable by the deadline while some lines are disputed."""
        if self.undisputed_tiyin is None:
            return max(0, self.outstanding_tiyin)
        return max(0, self.undisputed_tiyin - self.paid_net_tiyin)

    @property
    def pending_payments(self) -> list[Payment]:
        return [p for p in self.payments if p.status == "pending"]

    def payment(self, payment_id: str) -> Payment | None:
        return next((p for p in self.payments if p.payment_id == payment_id), None)

    def dispute(self, dispute_id: str) -> Dispute | None:
        return next((d for d in self.disputes if d.dispute_id == dispute_id), None)

    def current_disputes(self) -> list[Dispute]:
        return [d for d in self.disputes if d.version == self.version.number]


@dataclasses.dataclass(frozen=True, slots=True)
class AuditRecord:
    """One append-only audit entry: who or what, when, why."""

    event: str
    from_state: State | None
    to_state: State | None
    actor: str
    reason: str
    occurred_at: dt.datetime
    version: int
    ref: str = ""
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A message for a contract topic, published after the transaction commits."""

    message_id: str  # unique: notice_id, dispute_id, "<payment_id>:<status>"
    topic: str  # contract topic name (not namespaced)
    key: str
    value: Mapping[str, Any]


DecisionOutcomeKind = Literal["applied", "duplicate", "refused"]


@dataclasses.dataclass(frozen=True, slots=True)
class DecisionOutcome:
    """What became of one decisions.v1 message (kept for the bot and the portal)."""

    decision_id: str
    return_id: str
    pinfl: str
    tax_year: int
    version: int  # the version decided on
    decision: str  # agree | disagree
    channel: str
    outcome: DecisionOutcomeKind
    reason_code: str
    reason: str
    current_version: int | None  # offered when the decision named a superseded version


@dataclasses.dataclass(slots=True)
class CommandResult:
    """The result of one command: the changed case and what to record and send."""

    case: Case | None
    audit: list[AuditRecord] = dataclasses.field(default_factory=list)
    messages: list[OutgoingMessage] = dataclasses.field(default_factory=list)
    gateway_calls: list[str] = dataclasses.field(default_factory=list)  # payment ids
    decision: DecisionOutcome | None = None
    changed: bool = False  # anything to save
