"""The rules for a new version of a return (returns.v1), a delivered notice
(notifications.v1) and a view of the return (bot, portal)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from contracts import records
from lifecycle.diff import diff_versions, summary
from lifecycle.model import (
    IN_FLIGHT,
    OPEN_DISPUTE,
    Case,
    CommandResult,
    Refused,
    State,
    Version,
)
from lifecycle.rules.common import ENGINE, LIFECYCLE, Steps, local_day, version_details


class VersionRules(Steps):
    """New versions, notifications and views."""

    def on_version(
        self, case: Case | None, value: records.ReturnValue, at: dt.datetime
    ) -> CommandResult:
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
            out = CommandResult(case)
            self._move(
                out,
                State.COMPUTED,
                "computed",
                ENGINE,
                f"version {version.number} computed",
                at,
                details=version_details(version),
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
        out = CommandResult(case)
        if version.number <= case.version.number:
            return out  # a replay of a version already applied
        previous, previous_payload = case.version, case.payload
        previous_outstanding = case.outstanding_tiyin
        case.version, case.payload = version, dict(value)
        changes = diff_versions(previous_payload, value)
        details: dict[str, Any] = {
            **version_details(version),
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

    def _rest_after_version(
        self, out: CommandResult, at: dt.datetime, details: dict[str, Any]
    ) -> None:
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

    def _close_disputes(self, out: CommandResult, version: Version, at: dt.datetime) -> None:
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

    def on_notification(
        self, case: Case | None, notification: records.Notification, at: dt.datetime
    ) -> CommandResult:
        """A delivered first notice or amendment of the current version: notified."""
        out = CommandResult(case)
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

    def on_view(
        self, case: Case | None, version: int, channel: str, at: dt.datetime
    ) -> CommandResult:
        if case is None:
            raise Refused("unknown_return", "There is no such return.")
        self._check_version(case, version)
        out = CommandResult(case)
        if case.viewed_version != version:
            case.viewed_version = version
            out.changed = True
        if case.state in (State.COMPUTED, State.NOTIFIED):
            self._move(
                out, State.VIEWED, "viewed", f"taxpayer:{channel}", "the taxpayer opened it", at
            )
        return out
