"""Runs payments through the gateway and settles them: right after a payment is
requested, and from a timer for every payment still pending (after a restart, a timeout,
a delayed settlement). Money is never left in limbo: a pending payment is asked about
again, with its idempotency key, until the gateway gives a final answer; it is never
taken twice: the gateway is idempotent by key and the settlement of a payment that is no
longer pending is a no-op.
"""

from __future__ import annotations

import logging

from contracts.redaction import mask_pinfl
from core.clock import Clock
from lifecycle.gateway import (
    GatewayRequest,
    GatewayTimeout,
    IdempotencyConflict,
    PaymentGateway,
)
from lifecycle.machine import Machine
from lifecycle.model import Case, CommandResult
from lifecycle.store import Applied, LifecycleStore, PendingPayment

log = logging.getLogger(__name__)


class Reconciler:
    def __init__(
        self,
        repository: LifecycleStore,
        machine: Machine,
        gateway: PaymentGateway,
        clock: Clock,
    ) -> None:
        self.repository = repository
        self.machine = machine
        self.gateway = gateway
        self.clock = clock

    def settle(self, payment_id: str) -> Applied | None:
        """Ask the gateway about one payment and settle it if the answer is final."""
        pending = self.repository.pending_payment(payment_id)
        return None if pending is None else self._settle(pending)

    def settle_all(self, limit: int = 500) -> list[Applied]:
        """Every pending payment (oldest first): what the timer and a restart run."""
        done = []
        for pending in self.repository.pending_payments(limit):
            applied = self._settle(pending)
            if applied is not None:
                done.append(applied)
        return done

    def _settle(self, pending: PendingPayment) -> Applied | None:
        request = GatewayRequest(
            idempotency_key=pending.idempotency_key,
            operation="charge" if pending.kind == "payment" else "refund",
            pinfl=pending.pinfl,
            amount_tiyin=pending.amount_tiyin,
            reference=pending.payment_id,
        )
        try:
            result = self.gateway.submit(request)
        except GatewayTimeout:
            log.warning(
                "gateway timeout on %s of %s: asking again later",
                pending.payment_id,
                mask_pinfl(pending.pinfl),
            )
            return None
        except IdempotencyConflict:
            log.error("idempotency conflict on %s: left pending", pending.payment_id)
            return None
        if result.status == "pending":
            return None
        status = result.status
        actor = f"gateway:{self.gateway.name}"

        def command(case: Case | None) -> CommandResult:
            return self.machine.on_settlement(
                case,
                pending.payment_id,
                status,
                self.clock.now(),
                actor,
                provider_ref=result.provider_ref,
                account_ref=result.account_ref,
            )

        applied = self.repository.apply(command, return_id=pending.return_id)
        log.info(
            "%s %s of %s: %s",
            pending.kind,
            pending.payment_id,
            mask_pinfl(pending.pinfl),
            status,
        )
        return applied
