"""Completeness watermarks: ``registry.period_closed.v1`` and the cut-off release a tax year.

A release is one message per ledger partition on ``proactax.year_released.v1``; the
registry path computes the year's returns in that partition once it has read every
registry event published before the release (the ``wait_for`` end offsets).

The closures are a task of streams/transactions.py: a batch's closures, dead letters and
releases commit in one transaction (``Closures`` below decides; the task sends). The
cut-off timer is a faust timer; its releases are idempotent, so every worker may send
them, and each is awaited until the broker has it (no ``send_soon``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Protocol

from agents.completeness import is_complete, years_past_cutoff
from agents.ingest_batch import Message, Outputs, Store
from contracts.deadletters import deadletter_value
from contracts.period_closed import decode_period_closed
from contracts.registry_events import EventRejected
from core.clock import TASHKENT, Clock, rfc3339
from core.settings import Settings

log = logging.getLogger(__name__)

CUTOFF_CHECK_INTERVAL_S = 15.0


class Closures:
    """``registry.period_closed.v1`` ► the closures store; which years to release."""

    def __init__(
        self, *, store: Store, required: frozenset[str], tax_years: range, clock: Clock
    ) -> None:
        self.store = store
        self.required = required
        self.tax_years = tax_years
        self.clock = clock

    def process(self, messages: Iterable[Message], outputs: Outputs) -> list[tuple[int, str]]:
        """Fold a batch of closures; return the (year, reason) releases it completes."""
        releases = []
        for message in messages:
            try:
                value = decode_period_closed(message.value, message.key, self.tax_years)
            except EventRejected as rejected:
                outputs.send_dead_letter(
                    message.key,
                    deadletter_value(
                        source_topic=message.topic,
                        source_partition=message.partition,
                        source_offset=message.offset,
                        received_at=rfc3339(self.clock.now()),
                        reason_code=rejected.reason_code,
                        reason=rejected.reason,
                        field=rejected.field,
                        raw=message.value,
                    ),
                )
                continue
            year = value["tax_year"]
            self.store.put(f"{value['registry']}:{year}", value["closed_at"])
            closed = {
                registry
                for registry in self.required
                if self.store.get(f"{registry}:{year}") is not None
            }
            if is_complete(closed, self.required) and self.store.get(f"released:{year}") is None:
                self.store.put(f"released:{year}", rfc3339(self.clock.now()))
                releases.append((year, "all_registries_closed"))
                log.info("tax year %s closed by every registry", year)
        return releases


class CutoffSender(Protocol):
    async def send_cutoff_release(self, year: int) -> bool: ...


def wire(app: Any, settings: Settings, clock: Clock, sender: CutoffSender) -> None:
    """The cut-off timer (faust keeps timers): release every year past its cut-off."""
    released_here: set[int] = set()  # years this process has sent a cut-off release for

    @app.timer(interval=CUTOFF_CHECK_INTERVAL_S, on_leader=False)
    async def cutoff() -> None:
        today = clock.now().astimezone(TASHKENT).date()
        for year in years_past_cutoff(today, settings.tax_years, settings.completeness_cutoff):
            if year in released_here:
                continue
            try:
                sent = await sender.send_cutoff_release(year)
            except Exception:
                log.warning("cut-off release of %s not sent; next tick", year, exc_info=True)
                sent = False
            if sent:
                released_here.add(year)
