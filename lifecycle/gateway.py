"""The payment-gateway port and the stub provider shipped in the product.

A gateway takes a charge or a refund identified by an idempotency key and answers
``succeeded``, ``declined`` or ``pending`` (settles later: ask again with the same key).
It may also time out (``GatewayTimeout``): the caller does not know whether the money
moved and asks again later with the same key. The same key never moves money twice.

``StubGateway`` behaves like that with a ledger it persists (``storage.lifecycle``'s
``payment_stub_ledger``), so "timeout, then retry" after a crash cannot charge twice.
Modes (``PROACTAX_PAYMENT_STUB_MODE``, per taxpayer ``PROACTAX_PAYMENT_STUB_OVERRIDES``):

- ``success``: settles at once;
- ``decline``: declines (a new attempt needs a new key);
- ``timeout``: the money moves, but the first answer is lost (raises GatewayTimeout);
  asking again with the key returns ``succeeded``;
- ``delay``: ``pending`` until ``PROACTAX_PAYMENT_STUB_DELAY_S`` seconds (wall time) have
  passed, ``succeeded`` after that.

Refunds go to the account on file: the stub makes up a masked account per taxpayer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol

Operation = Literal["charge", "refund"]
GatewayStatus = Literal["succeeded", "declined", "pending"]


@dataclasses.dataclass(frozen=True, slots=True)
class GatewayRequest:
    idempotency_key: str
    operation: Operation
    pinfl: str
    amount_tiyin: int
    reference: str  # our payment_id


@dataclasses.dataclass(frozen=True, slots=True)
class GatewayResult:
    status: GatewayStatus
    provider_ref: str
    account_ref: str = ""


class GatewayTimeout(Exception):
    """No answer: whether the money moved is unknown. Ask again with the same key."""


class IdempotencyConflict(Exception):
    """A key reused for a different operation, taxpayer or amount: a bug, never retried."""


class PaymentGateway(Protocol):
    name: str

    def submit(self, request: GatewayRequest) -> GatewayResult:
        """Charge or refund, idempotent by ``request.idempotency_key``."""
        ...


class StubLedger(Protocol):
    """What the stub needs of its storage
    (``storage.lifecycle.stub_gateway.StubLedgerRepository``)."""

    def get(self, key: str) -> Any: ...

    def insert(self, entry: Any) -> tuple[Any, bool]: ...

    def settle(self, key: str) -> None: ...


def account_on_file(pinfl: str) -> str:
    """The stub's account on file for a taxpayer: a masked card number."""
    digits = str(int(hashlib.sha256(pinfl.encode()).hexdigest()[:8], 16) % 10000).zfill(4)
    return f"8600 **** **** {digits}"


class StubGateway:
    name = "stub"

    def __init__(
        self,
        ledger: StubLedger,
        new_entry: Callable[..., Any],
        mode: str = "success",
        delay_s: float = 3.0,
        overrides: Mapping[str, str] | None = None,
        wall_clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._ledger = ledger
        self._new_entry = new_entry  # builds a ledger row (storage.lifecycle.tables)
        self.mode = mode
        self.delay_s = delay_s
        self.overrides = dict(overrides or {})
        self._now = wall_clock

    def mode_for(self, pinfl: str) -> str:
        return self.overrides.get(pinfl, self.mode)

    def submit(self, request: GatewayRequest) -> GatewayResult:
        now = self._now()
        entry = self._ledger.get(request.idempotency_key)
        first = False
        mode = self.mode_for(request.pinfl)
        if entry is None:
            initial = {"decline": "declined", "delay": "pending"}.get(mode, "succeeded")
            entry, first = self._ledger.insert(
                self._new_entry(
                    idempotency_key=request.idempotency_key,
                    operation=request.operation,
                    pinfl=request.pinfl,
                    amount_tiyin=request.amount_tiyin,
                    reference=request.reference,
                    status=initial,
                    provider_ref="stub-"
                    + hashlib.sha256(request.idempotency_key.encode()).hexdigest()[:20],
                    account_ref=account_on_file(request.pinfl)
                    if request.operation == "refund"
                    else "",
                    created_at=now,
                    settle_after=now + dt.timedelta(seconds=self.delay_s)
                    if initial == "pending"
                    else None,
                )
            )
        if (entry.operation, entry.pinfl, entry.amount_tiyin) != (
            request.operation,
            request.pinfl,
            request.amount_tiyin,
        ):
            raise IdempotencyConflict(request.idempotency_key)
        status: GatewayStatus = entry.status
        if status == "pending" and entry.settle_after is not None and now >= entry.settle_after:
            self._ledger.settle(request.idempotency_key)
            status = "succeeded"
        if first and mode == "timeout":
            raise GatewayTimeout(request.idempotency_key)
        return GatewayResult(status, entry.provider_ref, entry.account_ref)
