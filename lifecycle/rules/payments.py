"""The rules for money: the taxpayer presses Pay, and a payment or refund settles (or
fails) at the gateway, with late-payment and late-refund interest."""

from __future__ import annotations

import datetime as dt

from lifecycle.model import (
    IN_FLIGHT,
    Case,
    CommandResult,
    Payment,
    Refused,
    State,
)
from lifecycle.rules.common import (
    AWAITING,
    LIFECYCLE,
    local_day,
    payment_details,
    payment_message,
    rfc3339,
)
from lifecycle.rules.decisions import DecisionRules


class PaymentRules(DecisionRules):
    """Payment requests and settlements (a Pay press may agree first)."""

    def on_payment_request(self, case: Case | None, channel: str, at: dt.datetime) -> CommandResult:
        """The taxpayer presses Pay: the outstanding amount (the undisputed part while
        disputed), with late-payment interest after the deadline."""
        if case is None:
            raise Refused("unknown_return", "There is no such return.")
        if case.pending_payments:
            raise Refused("payment_in_progress", "A payment is already with the gateway.")
        out = CommandResult(case)
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
                details=payment_details(payment),
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
    ) -> CommandResult:
        """The gateway's (or payments.v1's) final word on a payment; repeats are no-ops."""
        out = CommandResult(case)
        payment = None if case is None else case.payment(payment_id)
        if case is None or payment is None or payment.status != "pending" or status == "pending":
            return out
        if status not in ("succeeded", "declined", "failed"):
            return out
        payment.status = status  # type: ignore[assignment]
        payment.settled_at = at
        payment.provider_ref = provider_ref or payment.provider_ref
        payment.account_ref = account_ref or payment.account_ref
        out.messages.append(payment_message(case, payment, at))
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
        self, out: CommandResult, payment: Payment, at: dt.datetime, actor: str
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

    def _refund_interest(
        self, out: CommandResult, refund: Payment, owed: int, at: dt.datetime
    ) -> None:
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
            details={**payment_details(top_up), "refund_id": refund.payment_id},
        )
