"""The rules for a taxpayer's decision (decisions.v1: agree, or disagree line by line,
which opens disputes with the registries) and a registry's answer to a dispute
(disputes.responses.v1)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Literal

from contracts import records, topics
from contracts.returns_v1 import disputable
from lifecycle import ids
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
    Case,
    CommandResult,
    DecisionOutcome,
    Dispute,
    Line,
    OutgoingMessage,
    Refused,
    State,
)
from lifecycle.rules.common import LIFECYCLE, Steps, local_day, payment_details, rfc3339

IN_REVIEW_MESSAGE = (
    "The return is in the State Tax Committee's review queue: no decision can be taken on "
    "it until the review ends. The Tax Committee will write to you; the undisputed part "
    "can still be paid."
)


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    """What a decision would do in the current state."""

    outcome: Literal["apply", "duplicate", "refuse"]
    code: str = ""
    message: str = ""
    new_lines: tuple[tuple[Line, str, str], ...] = ()  # (line, reason_code, comment)
    escalate: tuple[tuple[Line, str, str], ...] = ()  # lines a registry already confirmed


def _decision_outcome(
    decision: records.Decision,
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


class DecisionRules(Steps):
    """Decisions and disputes."""

    def judge(self, case: Case | None, decision: records.Decision) -> Verdict:
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
        self, case: Case | None, decision: records.Decision, at: dt.datetime
    ) -> CommandResult:
        """Apply a decision, or record why it is a no-op or refused (never raises Refused)."""
        verdict = self.judge(case, decision)
        out = CommandResult(case)
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

    def _agree(
        self, out: CommandResult, at: dt.datetime, actor: str, ref: str, channel: str
    ) -> None:
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

    def _settle_outstanding(
        self, out: CommandResult, at: dt.datetime, actor: str, channel: str
    ) -> None:
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
                details=payment_details(payment),
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
                details=payment_details(refund),
            )
        elif case.paid_net_tiyin != 0:
            to = State.PAID if case.paid_net_tiyin > 0 else State.REFUNDED
            self._move(out, to, "settled", LIFECYCLE, "nothing more to pay or refund", at)

    def _disagree(
        self, out: CommandResult, verdict: Verdict, at: dt.datetime, actor: str, decision_id: str
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

    def on_dispute_confirmed(
        self, case: Case | None, dispute_id: str, comment: str, at: dt.datetime
    ) -> CommandResult:
        out = CommandResult(case)
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
