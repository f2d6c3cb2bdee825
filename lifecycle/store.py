"""The store the lifecycle's services and reconciler need: a port, so that lifecycle/ imports
no storage (storage.lifecycle.LifecycleRepository implements it, and storage imports
lifecycle.model; import-linter keeps the direction).

Rows of decisions, payments, audit entries and disputes come back as the store's own
objects; the services read the attributes named in their views.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from lifecycle.model import Case, CommandResult

Command = Callable[[Case | None], CommandResult]


class Applied(Protocol):
    """What one command yielded once saved: its outcome and the messages to publish."""

    @property
    def outcome(self) -> CommandResult: ...

    @property
    def outbox(self) -> Sequence[Any]: ...


class PendingPayment(Protocol):
    """A payment or refund with the gateway and no final answer yet."""

    @property
    def payment_id(self) -> str: ...

    @property
    def return_id(self) -> str: ...

    @property
    def pinfl(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def amount_tiyin(self) -> int: ...

    @property
    def idempotency_key(self) -> str: ...


class LifecycleStore(Protocol):
    def apply(
        self,
        command: Command,
        *,
        return_id: str | None = None,
        taxpayer: tuple[str, int] | None = None,
        now: dt.datetime | None = None,
    ) -> Applied:
        """Run ``command`` on the case and save everything it yields in one transaction."""
        ...

    def case(self, pinfl: str, tax_year: int) -> Case | None: ...

    def decision(self, decision_id: str) -> Any: ...

    def audit(self, pinfl: str, tax_year: int | None = None) -> Sequence[Any]: ...

    def payments(
        self, pinfl: str, tax_year: int | None = None, payment_id: str | None = None
    ) -> Sequence[Any]: ...

    def disputes(
        self,
        *,
        pinfl: str | None = None,
        tax_year: int | None = None,
        statuses: Sequence[str] | None = None,
    ) -> Sequence[Any]: ...

    def funnel(self, tax_year: int) -> dict[str, Any]: ...

    def pending_payment(self, payment_id: str) -> PendingPayment | None: ...

    def pending_payments(self, limit: int = 500) -> Sequence[PendingPayment]: ...
