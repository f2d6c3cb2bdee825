"""The return state machine: pure rules over a ``Case``, one method per command, one
module per group of events under ``lifecycle/rules/`` (versions, decisions and disputes,
payments, timers; the steps they share in ``common``). ``Machine`` is the one entry point.

Every method takes the case as loaded (or None), changes it in place and returns a
``CommandResult`` with the audit entries, the messages to publish after commit (notices,
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

from lifecycle.rules.payments import PaymentRules
from lifecycle.rules.timers import TimerRules
from lifecycle.rules.versions import VersionRules


class Machine(VersionRules, PaymentRules, TimerRules):
    """Every command: ``on_version``, ``on_notification``, ``on_view``, ``judge``,
    ``on_decision``, ``on_dispute_confirmed``, ``on_payment_request``, ``on_settlement``,
    ``on_tick``; and the figures ``interest``, ``refund_due_on``, ``refund_interest``,
    ``payable_now``. Built from a ``lifecycle.rules.common.Policy``."""
