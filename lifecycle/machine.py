"""The return state machine: pure rules over a ``Case``, one method per command.

Every method takes the case as loaded (or None), changes it in place and returns an
``Outcome`` with the audit entries, the messages to publish after commit (notices,
payments, disputes), the payments to hand to the gateway and, for decisions, the result.
Nothing here reads a clock, the database or Kafka: callers pass ``at`` (an aware
datetime); the calendar day is taken in Asia/Tashkent. Transitions outside
``model.TRANSITIONS`` raise ``IllegalTransition``; commands the state does not accept
raise ``Refused`` (views, payment requests) or are recorded as refused (decisions, which
arrive asynchronously on decisions.v1).

Money: ``Case.paid_net_tiyin`` is the principal received minus refunds paid over every
version; ``outstanding = balance of the current version - paid_net``. That one figure
drives agreements, amendments after payment (grows: the difference is asked for; shrinks:
the excess is refunded at once) and settlements that cross a new version.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal
from zoneinfo import ZoneInfo

from contracts import topics
from contracts.returns_v1 import disputable
from lifecycle import ids
from lifecycle.diff import diff_versions, summary
from lifecycle.disputes import (
    add_working_days,
    dispute_value,
    match_lines,
    undisputed_tiyin,
)
from lifecycle.model import (
    IN_FLIGHT,
    OPEN_DISPUTE,
    SETTLED,
    TRANSITIONS,
    AuditRecord,
    Case,
    DecisionOutcome,
    Dispute,
    IllegalTransition,
    Line,
    Outcome,
    OutgoingMessage,
    Payment,
    PaymentKind,
    RefusalCode,
    Refused,
    State,
    Version,
)
from lifecycle.schedule import next_reminder_on, reminder_due
from tax.errors import MissingParameter
from tax.interest import late_payment_interest, late_refund_interest, refund_due_date
from tax.parameters.model import ParameterSet

TASHKENT = ZoneInfo("Asia/Tashkent")
ENGINE = "tax engine (returns.v1)"
TIMER = "lifecycle timer"
LIFECYCLE = "lifecycle"
AWAITING = frozenset({State.COMPUTED, State.NOTIFIED, State.VIEWED, State.OVERDUE})
PAYABLE_AFTER_DEADLINE = frozenset({State.COMPUTED, State.NOTIFIED, State.VIEWED, State.AGREED})
IN_REVIEW_MESSAGE = (
    "The return is in the State Tax Committee's review queue: no decision can be taken on "
    "it until the review ends. The Tax Committee will write to you; the undisputed part "
    "can still be paid."
)


def local_day(at: dt.datetime) -> dt.date:
    return at.astimezone(TASHKENT).date()


def rfc3339(at: dt.datetime) -> str:
    return at.astimezone(TASHKENT).isoformat(timespec="seconds")


@dataclasses.dataclass(frozen=True, slots=True)
class Policy:
    """The rules' knobs (from settings) and the law (for interest, rates, the calendar)."""

    parameters: ParameterSet
    reminder_days: tuple[int, ...] = (30, 7, 1)  # before the declaration deadline
    payment_reminder_days: tuple[int, ...] = (30, 7, 1)  # before the payment deadline
    dispute_working_days: int = 10  # a registry answers within this many working days


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    """What a decision would do in the current state."""

    outcome: Literal["apply", "duplicate", "refuse"]
    code: str = ""
    message: str = ""
    new_lines: tuple[tuple[Line, str, str], ...] = ()  # (line, reason_code, comment)
    escalate: tuple[tuple[Line, str, str], ...] = ()  # lines a registry already confirmed


class Machine:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    # --- new versions (returns.v1) ----------------------------------------------------

    def on_version(self, case: Case | None, value: Mapping[str, Any], at: dt.datetime) -> Outcome:
        version = Version.from_returns_v1(value)
        if case is None:
            case = Case(
                return_id=str(value["return_id"]),
                pinfl=str(value["pinfl"]),
                tax_year=int(value["tax_year"]),
                state=None,
                version=version,
                payload=dict(value),
            )
            out = Outcome(case)
            self._move(
                out,
                State.COMPUTED,
                "computed",
                ENGINE,
                f"version {version.number} computed",
                at,
                details=_version_details(version),
            )
            if version.due:
                self._notice(out, "first_notice", at)
            else:
                self._move(
                    out,
                    State.NOTHING_DUE,
                    "nothing_due",
                    LIFECYCLE,
                    "no declaration required and a balance of 0: no notice",
                    at,
                )
            self._schedule(case, local_day(at))
            return out
        out = Outcome(case)
        if version.number <= case.version.number:
            return out  # a replay of a version already applied
        previous, previous_payload = case.version, case.payload
        previous_outstanding = case.outstanding_tiyin
        case.version, case.payload = version, dict(value)
        changes = diff_versions(previous_payload, value)
        details: dict[str, Any] = {
            **_version_details(version),
            "previous_version": previous.number,
            "changes": [c.as_dict() for c in changes],
        }
        self._close_disputes(out, version, at)
        case.undisputed_tiyin = None
        case.overdue_since = None
        was_told = case.notified_version is not None
        if case.state in IN_FLIGHT:
            assert case.state is not None
            self._move(
                out,
                case.state,
                "new_version",
                ENGINE,
                f"version {version.number} arrived with money in flight: it is settled "
                "against the new version when the gateway answers",
                at,
                details=details,
            )
        else:
            self._rest_after_version(out, at, details)
        if was_told:
            self._notice(
                out,
                "amendment",
                at,
                details={
                    "previous_version": previous.number,
                    "previous_balance_tiyin": previous.balance_tiyin,
                    "previous_outstanding_tiyin": previous_outstanding,
                    "return_balance_tiyin": version.balance_tiyin,
                    "changed_lines": len(changes),
                    "changes": summary(changes),
                },
            )
        elif case.state == State.COMPUTED:
            self._notice(out, "first_notice", at)
        self._schedule(case, local_day(at))
        return out

    def _rest_after_version(self, out: Outcome, at: dt.datetime, details: dict[str, Any]) -> None:
        """Where a new version leads when no money is in flight."""
        case = out.case
        assert case is not None
        paid, outstanding, number = case.paid_net_tiyin, case.outstanding_tiyin, case.version.number
        if paid != 0 and outstanding < 0:
            refund = self._start(out, "refund", -outstanding, 0, at, LIFECYCLE)
            self._move(
                out,
                State.REFUND_PENDING,
                "new_version",
                ENGINE,
                f"version {number}: {-outstanding} tiyin more was paid than is due; the excess "
                "is refunded to the account on file",
                at,
                ref=refund.payment_id,
                details=details,
            )
        elif paid != 0 and outstanding == 0:
            to = State.PAID if paid > 0 else State.REFUNDED
            self._move(
                out, to, "new_version", ENGINE, f"version {number}: settled already", at,
                details=details,
            )  # fmt: skip
        elif case.version.due or paid != 0:
            reason = (
                f"version {number} asks for {outstanding} tiyin more"
                if paid != 0
                else f"version {number} computed"
            )
            self._move(out, State.COMPUTED, "new_version", ENGINE, reason, at, details=details)
        else:
            self._move(
                out,
                State.NOTHING_DUE,
                "new_version",
                ENGINE,
                f"version {number}: no declaration required and a balance of 0",
                at,
                details=details,
            )

    def _close_disputes(self, out: Outcome, version: Version, at: dt.datetime) -> None:
        """A new version ends the open disputes of earlier ones: corrected when the record
        changed (a new revision or a void), else superseded (dispute again if still wrong)."""
        case = out.case
        assert case is not None
        current = {
            (s.registry, s.record_id): s.revision for line in version.lines for s in line.sources
        }
        for dispute in case.disputes:
            if dispute.status not in OPEN_DISPUTE or dispute.version >= version.number:
                continue
            revision = current.get((dispute.registry, dispute.record_id))
            dispute.status = "corrected" if revision != dispute.revision else "superseded"
            dispute.resolved_at = at
            self._note(
                out,
                f"dispute_{dispute.status}",
                f"registry:{dispute.registry}",
                f"{dispute.registry} record {dispute.record_id}: "
                + (
                    "a new revision or a void arrived"
                    if dispute.status == "corrected"
                    else "unchanged in the new version"
                ),
                at,
                ref=dispute.dispute_id,
            )

    # --- notifications.v1 -------------------------------------------------------------

    def on_notification(
        self, case: Case | None, notification: Mapping[str, Any], at: dt.datetime
    ) -> Outcome:
        """A delivered first notice or amendment of the current version: notified."""
        out = Outcome(case)
        if (
            case is None
            or notification.get("status") != "sent"
            or notification.get("kind") not in ("first_notice", "amendment")
            or notification.get("version") != case.version.number
            or notification.get("notice_id") not in case.notices
        ):
            return out
        today = local_day(at)
        actor = f"notifier:{notification.get('channel', '')}"
        if case.notified_version != case.version.number:
            case.notified_version, case.notified_on = case.version.number, today
            out.changed = True
            if case.state != State.COMPUTED:
                self._note(
                    out,
                    "notice_delivered",
                    actor,
                    f"{notification['kind']} of version {case.version.number} delivered",
                    at,
                    ref=str(notification["notice_id"]),
                )
        if case.state == State.COMPUTED:
            self._move(
                out,
                State.NOTIFIED,
                "notified",
                actor,
                f"{notification['kind']} delivered",
                at,
                ref=str(notification["notice_id"]),
            )
        self._schedule(case, today)
        return out

    # --- views (bot, portal) -----------------------------------------------------------

    def on_view(self, case: Case | None, version: int, channel: str, at: dt.datetime) -> Outcome:
        if case is None:
            raise Refused("unknown_return", "There is no such return.")
        self._check_version(case, version)
        out = Outcome(case)
        if case.viewed_version != version:
            case.viewed_version = version
            out.changed = True
        if case.state in (State.COMPUTED, State.NOTIFIED):
            self._move(
                out, State.VIEWED, "viewed", f"taxpayer:{channel}", "the taxpayer opened it", at
            )
        return out

    # --- decisions.v1 -----------------------------------------------------------------

    def judge(self, case: Case | None, decision: Mapping[str, Any]) -> Verdict:
        """What ``decision`` would do now: apply, a no-op duplicate, or a refusal."""
        if (
            case is None
            or decision.get("return_id") != case.return_id
            or decision.get("pinfl") != case.pinfl
            or decision.get("tax_year") != case.tax_year
        ):
            return Verdict("refuse", "unknown_return", "There is no such return.")
        try:
            self._check_version(case, int(decision["version"]))
        except Refused as refused:
            return Verdict("refuse", refused.code, refused.message)
        state, current = case.state, case.version.number
        if state == State.REVIEW:  # STC staff decide now; a new version ends the review
            return Verdict("refuse", "in_review", IN_REVIEW_MESSAGE)
        if decision["decision"] == "agree":
            if state in IN_FLIGHT | SETTLED:
                return Verdict("duplicate", "already_settled", "Already agreed and settled.")
            if state == State.AGREED and case.agreed_version == current:
                return Verdict("duplicate", "already_agreed", "Already agreed.")
            return Verdict("apply")
        if state in IN_FLIGHT | SETTLED:
            return Verdict(
                "refuse",
                "already_settled",
                "This version is paid or refunded (or the money is moving); a correction "
                "comes as a new version from the registry.",
            )
        named: dict[tuple[str, str], tuple[Line, str, str]] = {}
        for item in decision.get("lines") or ():
            code = str(item.get("code", ""))
            if not disputable(code):
                return Verdict(
                    "refuse",
                    "line_not_disputable",
                    f"Line {code} is computed from other lines: dispute the lines it comes from.",
                )
            matched = match_lines(case.version, code, item.get("subject"))
            if not matched:
                return Verdict("refuse", "unknown_line", f"Version {current} has no line {code}.")
            for line in matched:
                named.setdefault(
                    line.key, (line, str(item["reason_code"]), str(item.get("comment", "")))
                )
        if not named:
            return Verdict("refuse", "no_lines", "A disagreement names the lines disputed.")
        disputes = case.current_disputes()
        pending = {(d.line_code, d.subject) for d in disputes if d.status in OPEN_DISPUTE}
        confirmed = {(d.line_code, d.subject) for d in disputes if d.status == "confirmed"}
        new = tuple(v for k, v in named.items() if k not in pending and k not in confirmed)
        again = tuple(v for k, v in named.items() if k in confirmed and k not in pending)
        if not new and not again:
            return Verdict("duplicate", "already_disputed", "These lines are already disputed.")
        return Verdict("apply", new_lines=new, escalate=again)

    def on_decision(
        self, case: Case | None, decision: Mapping[str, Any], at: dt.datetime
    ) -> Outcome:
        """Apply a decision, or record why it is a no-op or refused (never raises Refused)."""
        verdict = self.judge(case, decision)
        out = Outcome(case)
        decision_id = str(decision["decision_id"])
        current = None if case is None else case.version.number
        actor = f"taxpayer:{decision.get('channel', '')}"
        if verdict.outcome != "apply":
            out.decision = _decision_outcome(
                decision,
                "refused" if verdict.outcome == "refuse" else "duplicate",
                verdict.code,
                verdict.message,
                current,
            )
            out.changed = True
            if case is not None and verdict.outcome == "refuse":
                self._note(
                    out,
                    "decision_refused",
                    actor,
                    f"{decision['decision']} on version {decision['version']} refused: "
                    f"{verdict.message}",
                    at,
                    ref=decision_id,
                    details={"reason_code": verdict.code},
                )
            return out
        assert case is not None
        if decision["decision"] == "agree":
            self._agree(out, at, actor, decision_id, str(decision.get("channel", "")))
        else:
            self._disagree(out, verdict, at, actor, decision_id)
        out.decision = _decision_outcome(decision, "applied", "", "", case.version.number)
        self._schedule(case, local_day(at))
        return out

    def _agree(self, out: Outcome, at: dt.datetime, actor: str, ref: str, channel: str) -> None:
        case = out.case
        assert case is not None
        for dispute in case.current_disputes():
            if dispute.status in OPEN_DISPUTE:
                dispute.status, dispute.resolved_at = "withdrawn", at
                self._note(
                    out, "dispute_withdrawn", actor, "the taxpayer agreed after all", at,
                    ref=dispute.dispute_id,
                )  # fmt: skip
        case.undisputed_tiyin = None
        self._move(
            out, State.AGREED, "agreed", actor, f"agreed with version {case.version.number}", at,
            ref=ref,
        )  # fmt: skip
        case.agreed_version = case.version.number
        self._settle_outstanding(out, at, actor, channel)

    def _settle_outstanding(self, out: Outcome, at: dt.datetime, actor: str, channel: str) -> None:
        """After an agreement: take what is owed (with interest when late) or refund."""
        case = out.case
        assert case is not None
        outstanding = case.outstanding_tiyin
        if outstanding > 0:
            interest = self.interest(case, outstanding, local_day(at)) or 0
            payment = self._start(out, "payment", outstanding, interest, at, channel)
            self._move(
                out,
                State.PAYMENT_PENDING,
                "payment_requested",
                actor,
                f"{payment.amount_tiyin} tiyin asked of the payment gateway"
                + (f" ({interest} tiyin late-payment interest)" if interest else ""),
                at,
                ref=payment.payment_id,
                details=_payment_details(payment),
            )
        elif outstanding < 0:
            refund = self._start(out, "refund", -outstanding, 0, at, LIFECYCLE)
            self._move(
                out,
                State.REFUND_PENDING,
                "refund_requested",
                LIFECYCLE,
                f"{refund.amount_tiyin} tiyin refunded to the account on file, unasked",
                at,
                ref=refund.payment_id,
                details=_payment_details(refund),
            )
        elif case.paid_net_tiyin != 0:
            to = State.PAID if case.paid_net_tiyin > 0 else State.REFUNDED
            self._move(out, to, "settled", LIFECYCLE, "nothing more to pay or refund", at)

    def _disagree(
        self, out: Outcome, verdict: Verdict, at: dt.datetime, actor: str, decision_id: str
    ) -> None:
        case = out.case
        assert case is not None
        number, today = case.version.number, local_day(at)
        lines = [*verdict.new_lines, *verdict.escalate]
        self._move(
            out,
            State.DISAGREED,
            "disagreed",
            actor,
            f"disagreed with {len(lines)} line(s) of version {number}",
            at,
            ref=decision_id,
            details={
                "lines": [
                    {"code": ln.code, "subject": ln.subject, "reason_code": reason}
                    for ln, reason, _ in lines
                ]
            },
        )
        respond_by = add_working_days(
            today, self.policy.dispute_working_days, self.policy.parameters
        )
        escalate = list(verdict.escalate)
        opened: list[Dispute] = []
        for line, reason, comment in verdict.new_lines:
            if not line.sources:
                escalate.append((line, reason, comment))
                continue
            for source in line.sources:
                dispute_id = ids.dispute_id(
                    case.return_id,
                    number,
                    line.code,
                    line.subject,
                    source.registry,
                    source.record_id,
                    source.revision,
                )
                if case.dispute(dispute_id) is not None:
                    continue
                dispute = Dispute(
                    dispute_id=dispute_id,
                    pinfl=case.pinfl,
                    tax_year=case.tax_year,
                    version=number,
                    line_code=line.code,
                    subject=line.subject,
                    registry=source.registry,
                    record_id=source.record_id,
                    revision=source.revision,
                    reason_code=reason,
                    comment=comment,
                    opened_at=at,
                    respond_by=respond_by,
                    decision_id=decision_id,
                )
                case.disputes.append(dispute)
                opened.append(dispute)
                out.messages.append(
                    OutgoingMessage(
                        dispute_id,
                        topics.DISPUTES,
                        source.registry,
                        dispute_value(dispute, opened_at=rfc3339(at)),
                    )
                )
        escalated_keys = {ln.key for ln, _, _ in escalate}
        for dispute in case.current_disputes():
            if dispute.status == "confirmed" and (dispute.line_code, dispute.subject) in (
                escalated_keys
            ):
                dispute.status = "escalated"
                self._note(
                    out, "dispute_escalated", actor,
                    "the registry confirmed the record; the taxpayer still disagrees", at,
                    ref=dispute.dispute_id,
                )  # fmt: skip
        disputed_keys = {
            (d.line_code, d.subject) for d in case.current_disputes() if d.status in OPEN_DISPUTE
        } | escalated_keys
        case.undisputed_tiyin = undisputed_tiyin(
            case.version, disputed_keys, self.policy.parameters, case.tax_year
        )
        registries = sorted({d.registry for d in opened})
        if escalate:
            self._move(
                out,
                State.REVIEW,
                "review",
                LIFECYCLE,
                "a line the registry already confirmed (or with no registry record) is "
                "disputed again: STC review",
                at,
                ref=decision_id,
            )
        else:
            self._move(
                out,
                State.DISPUTED,
                "disputed",
                LIFECYCLE,
                f"{len(opened)} dispute(s) sent to {', '.join(registries)}; answer by "
                f"{respond_by.isoformat()}",
                at,
                ref=decision_id,
                details={"dispute_ids": [d.dispute_id for d in opened]},
            )
        self._notice(
            out,
            "dispute_update",
            at,
            occasion=f"opened-{decision_id[-8:]}",
            deadline=respond_by if opened else None,
            details={
                "event": "review" if escalate else "opened",
                "disputes": len(opened),
                "registries": ",".join(registries),
                "respond_by": respond_by.isoformat() if opened else None,
                "undisputed_tiyin": case.undisputed_tiyin,
            },
        )

    # --- payments ---------------------------------------------------------------------

    def on_payment_request(self, case: Case | None, channel: str, at: dt.datetime) -> Outcome:
        """The taxpayer presses Pay: the outstanding amount (the undisputed part while
        disputed), with late-payment interest after the deadline."""
        if case is None:
            raise Refused("unknown_return", "There is no such return.")
        if case.pending_payments:
            raise Refused("payment_in_progress", "A payment is already with the gateway.")
        out = Outcome(case)
        actor = f"taxpayer:{channel}"
        state = case.state
        if state in AWAITING | {State.NOTHING_DUE} and case.outstanding_tiyin > 0:
            self._agree(out, at, actor, "pay", channel)
        elif state == State.AGREED and case.outstanding_tiyin > 0:
            self._settle_outstanding(out, at, actor, channel)
        elif state in (State.DISPUTED, State.REVIEW) and case.undisputed_outstanding_tiyin > 0:
            principal = case.undisputed_outstanding_tiyin
            interest = self.interest(case, principal, local_day(at)) or 0
            payment = self._start(out, "payment", principal, interest, at, channel)
            self._move(
                out,
                state,
                "payment_requested",
                actor,
                f"the undisputed part: {payment.amount_tiyin} tiyin asked of the payment gateway",
                at,
                ref=payment.payment_id,
                details=_payment_details(payment),
            )
        else:
            raise Refused("nothing_to_pay", "Nothing is payable on this return now.")
        self._schedule(case, local_day(at))
        return out

    def on_settlement(
        self,
        case: Case | None,
        payment_id: str,
        status: str,
        at: dt.datetime,
        actor: str,
        provider_ref: str = "",
        account_ref: str = "",
    ) -> Outcome:
        """The gateway's (or payments.v1's) final word on a payment; repeats are no-ops."""
        out = Outcome(case)
        payment = None if case is None else case.payment(payment_id)
        if case is None or payment is None or payment.status != "pending" or status == "pending":
            return out
        if status not in ("succeeded", "declined", "failed"):
            return out
        payment.status = status  # type: ignore[assignment]
        payment.settled_at = at
        payment.provider_ref = provider_ref or payment.provider_ref
        payment.account_ref = account_ref or payment.account_ref
        out.messages.append(_payment_message(case, payment, at))
        out.changed = True
        owed = 0
        if status == "succeeded" and payment.kind == "refund" and payment.principal_tiyin > 0:
            owed = self.refund_interest(case, payment.principal_tiyin, payment.version, at)
            owed = max(0, owed - payment.interest_tiyin)
        last_in_flight = case.state in IN_FLIGHT and not case.pending_payments and not owed
        if status == "succeeded":
            self._notice(
                out,
                "payment_receipt" if payment.kind == "payment" else "refund_notice",
                at,
                occasion=payment.payment_id[4:16],
                deadline=None,
                balance=case.outstanding_tiyin,
                details={
                    "receipt_id": payment.payment_id,
                    "amount_tiyin": payment.amount_tiyin,
                    "principal_tiyin": payment.principal_tiyin,
                    "interest_tiyin": payment.interest_tiyin,
                    "paid_version": payment.version,
                    "reproducibility_hash": payment.reproducibility_hash,
                    "settled_at": rfc3339(at),
                    "account_ref": payment.account_ref or None,
                },
            )
            if owed:
                self._refund_interest(out, payment, owed, at)
            elif last_in_flight:
                self._after_settlement(out, payment, at, actor)
            else:
                self._note(
                    out, f"{payment.kind}_succeeded", actor,
                    f"{payment.amount_tiyin} tiyin settled", at, ref=payment_id,
                )  # fmt: skip
        elif payment.kind == "payment" and last_in_flight and case.state == State.PAYMENT_PENDING:
            self._move(
                out,
                State.AGREED,
                "payment_declined",
                actor,
                f"the gateway answered {status}: the taxpayer can pay again",
                at,
                ref=payment_id,
            )
            self._notice(
                out,
                "payment_due_reminder",
                at,
                occasion=f"declined{payment.attempt}",
                deadline=case.version.payment_deadline,
                details={"payment_declined": True, "receipt_id": payment_id},
            )
        elif payment.kind == "refund" and last_in_flight and case.state == State.REFUND_PENDING:
            self._move(
                out,
                State.REVIEW,
                "refund_failed",
                actor,
                f"the refund to the account on file {status}: STC review",
                at,
                ref=payment_id,
            )
        else:
            self._note(out, f"{payment.kind}_{status}", actor, status, at, ref=payment_id)
        self._schedule(case, local_day(at))
        return out

    def _after_settlement(
        self, out: Outcome, payment: Payment, at: dt.datetime, actor: str
    ) -> None:
        case = out.case
        assert case is not None
        outstanding = case.outstanding_tiyin
        event = f"{payment.kind}_succeeded"
        if outstanding == 0:
            to = State.PAID if payment.kind == "payment" else State.REFUNDED
            case.overdue_since = None
            self._move(
                out, to, event, actor, f"{payment.amount_tiyin} tiyin settled", at,
                ref=payment.payment_id,
            )  # fmt: skip
        elif outstanding < 0:
            refund = self._start(out, "refund", -outstanding, 0, at, LIFECYCLE)
            self._move(
                out,
                State.REFUND_PENDING,
                event,
                actor,
                f"settled, but version {case.version.number} is lower: {-outstanding} tiyin "
                "refunded to the account on file",
                at,
                ref=refund.payment_id,
            )
        else:
            told = case.notified_version == case.version.number
            self._move(
                out,
                State.NOTIFIED if told else State.COMPUTED,
                event,
                actor,
                f"settled; version {case.version.number} asks for {outstanding} tiyin more",
                at,
                ref=payment.payment_id,
            )

    # --- disputes.responses.v1 --------------------------------------------------------

    def on_dispute_confirmed(
        self, case: Case | None, dispute_id: str, comment: str, at: dt.datetime
    ) -> Outcome:
        out = Outcome(case)
        dispute = None if case is None else case.dispute(dispute_id)
        if case is None or dispute is None or dispute.status not in ("open", "unanswered"):
            return out
        dispute.status, dispute.response_comment, dispute.resolved_at = "confirmed", comment, at
        actor = f"registry:{dispute.registry}"
        self._note(
            out, "dispute_confirmed", actor, f"record {dispute.record_id} confirmed as it stands",
            at, ref=dispute_id, details={"comment": comment},
        )  # fmt: skip
        if dispute.version != case.version.number or case.state not in (
            State.DISPUTED,
            State.REVIEW,
        ):
            return out
        if any(d.status in OPEN_DISPUTE for d in case.current_disputes()):
            return out
        case.undisputed_tiyin = None
        self._move(
            out,
            State.NOTIFIED,
            "dispute_confirmed",
            actor,
            "every disputed record was confirmed by its registry: back to the taxpayer",
            at,
            ref=dispute_id,
        )
        self._notice(
            out,
            "dispute_update",
            at,
            occasion="confirmed",
            details={
                "event": "confirmed",
                "registry": dispute.registry,
                "comment": comment[:500],
            },
        )
        self._schedule(case, local_day(at))
        return out

    # --- the timer --------------------------------------------------------------------

    def on_tick(self, case: Case, at: dt.datetime) -> Outcome:
        """Unanswered disputes to review, overdue after the payment deadline, reminders."""
        out = Outcome(case)
        today, version = local_day(at), case.version
        late = [d for d in case.current_disputes() if d.status == "open" and today > d.respond_by]
        for dispute in late:
            dispute.status = "unanswered"
            self._note(
                out, "dispute_unanswered", TIMER,
                f"{dispute.registry} did not answer by {dispute.respond_by.isoformat()}", at,
                ref=dispute.dispute_id,
            )  # fmt: skip
        if late and case.state == State.DISPUTED:
            self._move(
                out, State.REVIEW, "review", TIMER,
                "no answer by respond_by: STC review queue", at,
            )  # fmt: skip
            self._notice(out, "dispute_update", at, occasion="review", details={"event": "review"})
        if today > version.payment_deadline and not case.pending_payments:
            self._overdue(out, at, today)
        if case.state in (State.NOTIFIED, State.VIEWED) and version.due:
            days = reminder_due(
                version.declaration_deadline,
                self.policy.reminder_days,
                case.notified_on,
                today,
                lambda d: self._sent(case, "reminder", f"d{d}"),
            )
            if days:
                self._notice(out, "reminder", at, occasion=f"d{days}", details={"days": days})
        if self.payable_now(case) > 0:
            days = reminder_due(
                version.payment_deadline,
                self.policy.payment_reminder_days,
                case.notified_on,
                today,
                lambda d: self._sent(case, "payment_due_reminder", f"d{d}"),
            )
            if days:
                self._notice(
                    out,
                    "payment_due_reminder",
                    at,
                    occasion=f"d{days}",
                    deadline=version.payment_deadline,
                    balance=self.payable_now(case),
                    details={"days": days},
                )
        before = case.next_due_on
        self._schedule(case, today)
        out.changed = out.changed or case.next_due_on != before
        return out

    def _overdue(self, out: Outcome, at: dt.datetime, today: dt.date) -> None:
        case = out.case
        assert case is not None
        deadline = case.version.payment_deadline
        if case.state in PAYABLE_AFTER_DEADLINE and case.outstanding_tiyin > 0:
            principal = case.outstanding_tiyin
        elif (
            case.state in (State.DISPUTED, State.REVIEW)
            and case.undisputed_outstanding_tiyin > 0
            and case.overdue_since is None
        ):
            principal = case.undisputed_outstanding_tiyin
        else:
            return
        case.overdue_since = deadline + dt.timedelta(days=1)
        interest = self.interest(case, principal, today)
        details = {
            "unpaid_tiyin": principal,
            "interest_tiyin": interest,
            "as_of": today.isoformat(),
        }
        reason = (
            f"{principal} tiyin unpaid after {deadline.isoformat()}: late-payment interest accrues"
        )
        assert case.state is not None
        to = State.OVERDUE if case.state in PAYABLE_AFTER_DEADLINE else case.state
        self._move(out, to, "overdue", TIMER, reason, at, details=details)
        self._notice(
            out,
            "overdue",
            at,
            deadline=deadline,
            balance=principal,
            details={**details, "daily_rule": "unpaid x refinancing rate / 300 (Tax Code Art 110)"},
        )

    # --- helpers ----------------------------------------------------------------------

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

    def _refund_interest(self, out: Outcome, refund: Payment, owed: int, at: dt.datetime) -> None:
        """A refund settled after its due day: the interest (Art 104) goes to the same
        account at once, as a transfer of its own; refunded when it settles."""
        case = out.case
        assert case is not None
        due = self.refund_due_on(case, refund.version)
        top_up = self._start(out, "refund", 0, owed, at, LIFECYCLE)
        self._note(
            out,
            "refund_interest_requested",
            LIFECYCLE,
            f"the refund was paid after it was due on {due}: {owed} tiyin late-refund "
            "interest (Tax Code Art 104) sent to the same account",
            at,
            ref=top_up.payment_id,
            details={**_payment_details(top_up), "refund_id": refund.payment_id},
        )

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
        out: Outcome,
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

    def transition(self, case: Case, to: State, event: str, actor: str, at: dt.datetime) -> Outcome:
        """A bare transition (checked against the table); the commands above use it."""
        out = Outcome(case)
        self._move(out, to, event, actor, event, at)
        return out

    def _note(
        self,
        out: Outcome,
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
        out: Outcome,
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
        out: Outcome,
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
        out.messages.append(_payment_message(case, payment, at))
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


def _decision_outcome(
    decision: Mapping[str, Any],
    outcome: Literal["applied", "duplicate", "refused"],
    code: str,
    message: str,
    current: int | None,
) -> DecisionOutcome:
    return DecisionOutcome(
        decision_id=str(decision["decision_id"]),
        return_id=str(decision.get("return_id", "")),
        pinfl=str(decision.get("pinfl", "")),
        tax_year=int(decision.get("tax_year", 0)),
        version=int(decision.get("version", 0)),
        decision=str(decision.get("decision", "")),
        channel=str(decision.get("channel", "")),
        outcome=outcome,
        reason_code=code,
        reason=message,
        current_version=current,
    )


def _version_details(version: Version) -> dict[str, Any]:
    return {
        "version": version.number,
        "balance_tiyin": version.balance_tiyin,
        "declaration_required": version.declaration_required,
        "reproducibility_hash": version.reproducibility_hash,
    }


def _payment_details(payment: Payment) -> dict[str, Any]:
    return {
        "payment_id": payment.payment_id,
        "kind": payment.kind,
        "amount_tiyin": payment.amount_tiyin,
        "principal_tiyin": payment.principal_tiyin,
        "interest_tiyin": payment.interest_tiyin,
        "idempotency_key": payment.idempotency_key,
    }


def _payment_message(case: Case, payment: Payment, at: dt.datetime) -> OutgoingMessage:
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
