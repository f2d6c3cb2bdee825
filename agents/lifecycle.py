"""Lifecycle agents: the return state machine driven by the streams and a clock.

One agent reads ``returns.v1``, ``decisions.v1``, ``payments.v1`` and ``notifications.v1``
(all keyed by PINFL and co-partitioned, so one taxpayer's events are applied in order);
another reads ``disputes.responses.v1`` (keyed by registry). Each event is one
``LifecycleRepository.apply`` of a ``lifecycle.machine`` command; what it yields for other
services (``notices.v1``, ``payments.v1``, ``disputes.v1``) is written to the outbox in the
same transaction and published right after it. Payments asked for go to the gateway at
once; timers then settle whatever is still pending (the reconciler), look at returns with
something due today (reminders, overdue, unanswered disputes), and publish outbox rows a
crash left behind (the relay).

Blocking database and gateway work runs in threads; while the database is away the event
waits and is retried (nothing is skipped). An event the rules cannot apply (a bug) is
logged and skipped, never allowed to stop the partition.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from contracts import topics
from contracts.redaction import mask_pinfl
from contracts.topics import namespaced
from contracts.validation import schema_problem
from lifecycle.config import LifecycleConfig
from lifecycle.gateway import StubGateway
from lifecycle.machine import Machine, local_day
from lifecycle.model import Case, DecisionOutcome, LifecycleError, Outcome
from lifecycle.reconciler import Reconciler
from proactax.clock import Clock
from proactax.settings import Settings
from storage.lifecycle import (
    DATABASE_ERRORS,
    Applied,
    LifecycleRepository,
    OutboxItem,
    StubGatewayEntry,
    StubLedgerRepository,
)
from streams.topology import Topology

log = logging.getLogger(__name__)

T = TypeVar("T")
RETRY_DELAYS_S = (0.5, 1, 2, 5, 10)
RELAY_INTERVAL_S = 2.0
RELAY_GRACE = dt.timedelta(seconds=5)  # rows older than this were missed by their agent
INPUTS = (topics.RETURNS, topics.DECISIONS, topics.PAYMENTS, topics.NOTIFICATIONS)
OUTPUTS = (topics.NOTICES, topics.PAYMENTS, topics.DISPUTES)


def build_gateway(config: LifecycleConfig, sessions: Any) -> StubGateway:
    """The payment gateway of this deployment: the stub (a real provider plugs in here)."""
    return StubGateway(
        StubLedgerRepository(sessions),
        StubGatewayEntry,
        mode=config.stub_mode,
        delay_s=config.stub_delay_s,
        overrides=config.stub_overrides,
    )


def wire(
    app: Any,
    topology: Topology,
    settings: Settings,
    clock: Clock,
    sessions: Any,
    parameters: Any,
) -> None:
    config = LifecycleConfig.from_settings(settings)
    repository = LifecycleRepository(sessions)
    machine = Machine(config.policy(parameters))
    reconciler = Reconciler(repository, machine, build_gateway(config, sessions), clock)
    names = {namespaced(name, settings.topic_namespace): name for name in INPUTS}
    inputs = app.topic(
        *names,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    outputs = {name: topology.contract[name] for name in OUTPUTS}

    async def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn`` in a thread; database errors are retried with backoff (the event waits)."""
        attempt = 0
        while True:
            try:
                return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))
            except DATABASE_ERRORS:
                delay = RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)]
                log.warning(
                    "lifecycle: database unavailable, retrying in %ss", delay, exc_info=True
                )
                attempt += 1
                await asyncio.sleep(delay)

    async def publish(items: list[OutboxItem]) -> None:
        """Send outbox rows, wait for the broker's acks, then mark them published."""
        if not items:
            return
        futures = [
            await outputs[item.topic].send(
                key=item.key.encode(),
                value=json.dumps(item.value, ensure_ascii=False).encode(),
                force=True,  # now, not attached to the event being processed
            )
            for item in items
        ]
        await asyncio.gather(*futures)
        await run(repository.mark_published, [item.id for item in items])

    async def apply(command: Callable[[Case | None], Outcome], **where: Any) -> Applied | None:
        try:
            applied = await run(repository.apply, command, **where)
        except LifecycleError:
            log.exception("lifecycle: a command failed its own rules (skipped): %s", where)
            return None
        await publish(applied.outbox)
        for payment_id in applied.outcome.gateway_calls:
            await settle(payment_id)
        return applied

    async def settle(payment_id: str) -> None:
        settled = await run(reconciler.settle, payment_id)
        if settled is not None:
            await publish(settled.outbox)
            for follow_up in settled.outcome.gateway_calls:  # an excess refunded at once
                await settle(follow_up)

    def decode(topic: str, raw: bytes | None, check: bool) -> dict[str, Any] | None:
        try:
            value = json.loads(raw or b"")
        except ValueError:
            log.error("lifecycle: %s message is not JSON (skipped)", topic)
            return None
        if not isinstance(value, dict):
            log.error("lifecycle: %s message is not an object (skipped)", topic)
            return None
        if check:
            problem = schema_problem(value, topic)
            if problem is not None:
                log.error(
                    "lifecycle: invalid %s message (skipped): %s %s",
                    topic,
                    problem.field,
                    problem.reason,
                )
                if topic == topics.DECISIONS and isinstance(value.get("decision_id"), str):
                    return {"__invalid__": problem.reason, **value}
                return None
        return value

    async def on_return(value: dict[str, Any]) -> None:
        now = clock.now()
        await apply(lambda case: machine.on_version(case, value, now), return_id=value["return_id"])

    async def on_decision(value: dict[str, Any]) -> None:
        now = clock.now()
        if "__invalid__" in value:
            result = DecisionOutcome(
                decision_id=str(value["decision_id"])[:64],
                return_id=str(value.get("return_id", ""))[:64],
                pinfl=str(value.get("pinfl", ""))[:14],
                tax_year=value["tax_year"] if isinstance(value.get("tax_year"), int) else 0,
                version=value["version"] if isinstance(value.get("version"), int) else 0,
                decision=str(value.get("decision", ""))[:8],
                channel=str(value.get("channel", ""))[:16],
                outcome="refused",
                reason_code="bad_request",
                reason=str(value["__invalid__"]),
                current_version=None,
            )
            await run(repository.record_decision, result)
            return
        applied = await apply(
            lambda case: machine.on_decision(case, value, now), return_id=value["return_id"]
        )
        decision = applied.outcome.decision if applied else None
        if decision is not None and decision.outcome != "applied":
            log.info(
                "decision %s of %s: %s (%s)",
                decision.decision_id,
                mask_pinfl(decision.pinfl),
                decision.outcome,
                decision.reason_code,
            )

    async def on_payment(value: dict[str, Any]) -> None:
        if value["status"] == "pending":
            return  # our own request (or a provider's acknowledgement): nothing to settle
        return_id = await run(repository.return_of_payment, value["payment_id"])
        if return_id is None:
            log.warning("payments.v1: settlement of an unknown payment %s", value["payment_id"])
            return
        now = clock.now()
        await apply(
            lambda case: machine.on_settlement(
                case,
                value["payment_id"],
                value["status"],
                now,
                "payments.v1",
                provider_ref=value.get("provider_ref", ""),
                account_ref=value.get("account_ref", ""),
            ),
            return_id=return_id,
        )

    async def on_notification(value: dict[str, Any]) -> None:
        if value.get("status") != "sent" or value.get("kind") not in ("first_notice", "amendment"):
            return  # only a delivered first notice or amendment changes a state
        now = clock.now()
        await apply(
            lambda case: machine.on_notification(case, value, now),
            taxpayer=(value["pinfl"], value["tax_year"]),
        )

    handlers = {
        topics.RETURNS: on_return,
        topics.DECISIONS: on_decision,
        topics.PAYMENTS: on_payment,
        topics.NOTIFICATIONS: on_notification,
    }

    @app.agent(inputs, name="lifecycle", concurrency=1)
    async def lifecycle(stream: Any) -> None:
        async for event in stream.events():
            topic = names.get(event.message.topic)
            if topic is None:
                continue
            # returns.v1 is written by our own worker: no second schema check per version.
            value = decode(topic, event.value, check=topic != topics.RETURNS)
            if value is None:
                continue
            try:
                await handlers[topic](value)
            except (KeyError, TypeError, ValueError):
                log.exception("lifecycle: cannot apply a %s message (skipped)", topic)

    @app.agent(topology.contract[topics.DISPUTE_RESPONSES], name="dispute_responses", concurrency=1)
    async def dispute_responses(stream: Any) -> None:
        async for event in stream.events():
            value = decode(topics.DISPUTE_RESPONSES, event.value, check=True)
            if value is None:
                continue
            return_id = await run(repository.return_of_dispute, value["dispute_id"])
            if return_id is None:
                log.warning("disputes.responses.v1: unknown dispute %s", value["dispute_id"])
                continue
            await apply(
                functools.partial(
                    _confirm, machine, value["dispute_id"], value["comment"], clock.now()
                ),
                return_id=return_id,
            )

    @app.timer(interval=config.timer_interval_s, on_leader=False)
    async def lifecycle_timer() -> None:
        """Reminders, overdue, unanswered disputes: returns with something due today."""
        now = clock.now()
        for return_id in await run(repository.due, local_day(now)):
            await apply(functools.partial(_tick, machine, now), return_id=return_id)

    @app.timer(interval=config.reconcile_interval_s, on_leader=False)
    async def payment_reconciler() -> None:
        """Settle every pending payment with the gateway (after a restart too)."""
        for settled in await run(reconciler.settle_all):
            await publish(settled.outbox)
            for follow_up in settled.outcome.gateway_calls:
                await settle(follow_up)

    @app.timer(interval=RELAY_INTERVAL_S, on_leader=False)
    async def outbox_relay() -> None:
        """Publish outbox rows a crash left unpublished (at least once, same ids)."""
        cutoff = dt.datetime.now(dt.UTC) - RELAY_GRACE
        items = await run(repository.unpublished, cutoff)
        if items:
            log.info("lifecycle: relaying %s unpublished message(s)", len(items))
            await publish(items)


def _confirm(
    machine: Machine, dispute_id: str, comment: str, at: dt.datetime, case: Case | None
) -> Outcome:
    return machine.on_dispute_confirmed(case, dispute_id, comment, at)


def _tick(machine: Machine, at: dt.datetime, case: Case | None) -> Outcome:
    return Outcome(None) if case is None else machine.on_tick(case, at)
