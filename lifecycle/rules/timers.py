"""The rules the daily timer applies: reminders, unanswered disputes, overdue returns."""

from __future__ import annotations

import datetime as dt

from lifecycle.model import (
    Case,
    CommandResult,
    State,
)
from lifecycle.rules.common import PAYABLE_AFTER_DEADLINE, TIMER, Steps, local_day
from lifecycle.schedule import reminder_due


class TimerRules(Steps):
    """The timer."""

    def on_tick(self, case: Case, at: dt.datetime) -> CommandResult:
        """Unanswered disputes to review, overdue after the payment deadline, reminders."""
        out = CommandResult(case)
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

    def _overdue(self, out: CommandResult, at: dt.datetime, today: dt.date) -> None:
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
