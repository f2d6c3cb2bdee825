"""Lifecycle agents: the return state machine driven by the streams and a clock.

Inputs: ``returns.v1``, ``decisions.v1``, ``payments.v1``, ``notifications.v1`` (keyed by
PINFL, co-partitioned) and ``disputes.responses.v1`` (keyed by registry). Each message is
one ``LifecycleRepository.apply`` of a ``lifecycle.machine`` command; what it yields for
other services (``notices.v1``, ``payments.v1``, ``disputes.v1``) is written to the outbox
in the same transaction and published right after it. Payments asked for go to the
gateway at once; timers then settle whatever is still pending (the reconciler), look at
returns with something due today (reminders, overdue, unanswered disputes), and publish
outbox rows a crash left behind (the relay).

The inputs are read by a consumer of its own (group ``<app_id>-lifecycle``, an
``app.task`` of the worker) that commits offsets only after a batch is applied (at least
once; every command is idempotent), not by a faust agent: two faust agents sharing
``returns.v1`` hang the worker's shutdown (docs/decisions/0003-a-stream-layer-of-our-own.md).

Blocking database and gateway work runs in threads; while the database is away the batch
waits and is retried (nothing is skipped). A message the rules cannot apply (a bug, or a
malformed message) is logged and skipped, never allowed to stop the partition; an answer on
``disputes.responses.v1`` that cannot be applied (not JSON, against its schema, an unknown
``dispute_id``, a dispute no longer open) becomes a dead letter on
``registry.deadletter.v1`` with the reason, and on the registry's own
``registry.<registry>.deadletter.v1`` when the key names it (issue 17).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from agents.receipts import owner
from contracts import inputs, records, topics
from contracts.deadletters import deadletter_value
from contracts.inputs import Unusable
from contracts.redaction import mask_pinfl
from contracts.topics import namespaced
from core.clock import Clock
from core.kafka import client_options, group_timing
from core.retry import retry_in_thread
from core.settings import Settings
from lifecycle.config import LifecycleConfig
from lifecycle.gateway import StubGateway
from lifecycle.machine import Machine
from lifecycle.model import Case, CommandResult, DecisionOutcome, LifecycleError
from lifecycle.reconciler import Reconciler
from lifecycle.rules.common import local_day
from lifecycle.store import Applied as AppliedCommand
from storage.lifecycle.reads import OutboxItem
from storage.lifecycle.repository import DATABASE_ERRORS, Applied, LifecycleRepository
from storage.lifecycle.stub_gateway import StubLedgerRepository
from storage.lifecycle.tables import StubGatewayEntry
from streams.topology import Topology

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
BATCH = 500
RELAY_INTERVAL_S = 2.0
RELAY_GRACE = dt.timedelta(seconds=5)  # rows older than this were missed by their sender
INPUTS = (
    topics.RETURNS,
    topics.DECISIONS,
    topics.PAYMENTS,
    topics.NOTIFICATIONS,
    topics.DISPUTE_RESPONSES,
)
OUTPUTS = (topics.NOTICES, topics.PAYMENTS, topics.DISPUTES, topics.DEADLETTER)


@dataclasses.dataclass(frozen=True, slots=True)
class Source:
    """Where an input message was read: what its dead letter names."""

    topic: str  # as read (namespaced)
    partition: int
    offset: int
    key: bytes | None


@dataclasses.dataclass(frozen=True, slots=True)
class Rejection:
    """A dispute answer that cannot be applied: its dead letter, to publish."""

    key: bytes | None
    value: bytes
    registry: str | None = None  # the registry named by the key: its own dead letters too


def build_gateway(config: LifecycleConfig, sessions: Any) -> StubGateway:
    """The payment gateway of this deployment: the stub (a real provider plugs in here)."""
    return StubGateway(
        StubLedgerRepository(sessions),
        StubGatewayEntry,
        mode=config.stub_mode,
        delay_s=config.stub_delay_s,
        overrides=config.stub_overrides,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class InvalidDecision:
    """A ``decisions.v1`` value against its schema that names its ``decision_id``: its
    refusal is recorded, so whoever sent it can read why."""

    value: dict[str, Any]
    reason: str


@dataclasses.dataclass(frozen=True, slots=True)
class Route(Generic[R]):
    """One input topic: ``read`` decodes a value once into the topic's typed record (None:
    unusable, logged and skipped; ``Unusable``: a dead letter, when ``dead_letters``), and
    ``apply`` runs it through the state machine. A route that does not dead-letter skips
    (and logs) a message the rules cannot apply; one that does lets the error fail the
    batch, which is retried."""

    read: Callable[[bytes | None], R | None]
    apply: Callable[[R], Applied | None]
    dead_letters: bool = False


class Handler:
    """Applies input messages (blocking: runs in a worker thread, one batch at a time),
    through a table of one route per input topic."""

    def __init__(self, repository: LifecycleRepository, machine: Machine, clock: Clock) -> None:
        self.repository = repository
        self.machine = machine
        self.clock = clock
        self.routes: dict[str, Route[Any]] = {
            topics.RETURNS: Route(_logged(topics.RETURNS, inputs.return_value), self.on_return),
            topics.DECISIONS: Route(read_decision, self.on_decision),
            topics.PAYMENTS: Route(_logged(topics.PAYMENTS, inputs.payment), self.on_payment),
            topics.NOTIFICATIONS: Route(
                _logged(topics.NOTIFICATIONS, inputs.notification), self.on_notification
            ),
            topics.DISPUTE_RESPONSES: Route(
                inputs.dispute_response, self.on_dispute_response, dead_letters=True
            ),
        }

    def batch(
        self,
        messages: Iterable[tuple[str, bytes | None] | tuple[str, bytes | None, Source]],
        rejected: list[Rejection] | None = None,
    ) -> list[Applied]:
        """Apply each (topic, raw value[, source]) in order; database errors propagate (the
        caller retries the whole batch: every command is idempotent). A dispute answer that
        cannot be applied is added to ``rejected`` as a dead letter."""
        done = []
        for topic, raw, *where in messages:
            route = self.routes.get(topic)
            if route is None:
                continue
            try:
                record = route.read(raw)
                applied = None if record is None else route.apply(record)
            except Unusable as refused:
                if not route.dead_letters:
                    raise
                log.warning("%s refused: %s", topic, refused.reason)
                if rejected is not None:
                    rejected.append(self._dead_letter(refused, raw, *where))
                continue
            except DATABASE_ERRORS:
                raise
            except (LifecycleError, KeyError, TypeError, ValueError):
                if route.dead_letters:
                    raise
                log.exception("lifecycle: cannot apply a %s message (skipped)", topic)
                continue
            if applied is not None:
                done.append(applied)
        return done

    # --- one handler per input topic ----------------------------------------------------

    def on_return(self, value: records.ReturnValue) -> Applied:
        m, now = self.machine, self.clock.now()
        return self.repository.apply(
            lambda c: m.on_version(c, value, now), return_id=value["return_id"]
        )

    def on_decision(self, value: records.Decision | InvalidDecision) -> Applied | None:
        if isinstance(value, InvalidDecision):
            self.repository.record_decision(_invalid_decision(value))
            return None
        m, now = self.machine, self.clock.now()
        applied = self.repository.apply(
            lambda c: m.on_decision(c, value, now), return_id=value["return_id"]
        )
        result = applied.outcome.decision
        if result is not None and result.outcome != "applied":
            log.info(
                "decision %s of %s: %s (%s)",
                result.decision_id,
                mask_pinfl(result.pinfl),
                result.outcome,
                result.reason_code,
            )
        return applied

    def on_payment(self, value: records.Payment) -> Applied | None:
        if value["status"] == "pending":
            return None  # our own request, or a provider's acknowledgement
        return_id = self.repository.return_of_payment(value["payment_id"])
        if return_id is None:
            log.warning("payments.v1: settlement of unknown payment %s", value["payment_id"])
            return None
        m, now = self.machine, self.clock.now()
        return self.repository.apply(
            lambda c: m.on_settlement(
                c,
                value["payment_id"],
                value["status"],
                now,
                "payments.v1",
                provider_ref=value.get("provider_ref", ""),
                account_ref=value.get("account_ref", ""),
            ),
            return_id=return_id,
        )

    def on_notification(self, value: records.Notification) -> Applied | None:
        if value["status"] != "sent" or value["kind"] not in ("first_notice", "amendment"):
            return None  # only a delivered first notice or amendment changes a state
        m, now = self.machine, self.clock.now()
        return self.repository.apply(
            lambda c: m.on_notification(c, value, now),
            taxpayer=(value["pinfl"], value["tax_year"]),
        )

    def on_dispute_response(self, value: records.DisputeResponse) -> Applied:
        """Apply a registry's answer to a dispute, or raise Unusable with the reason."""
        dispute_id = value["dispute_id"]
        return_id = self.repository.return_of_dispute(dispute_id)
        if return_id is None:
            raise Unusable(
                "out_of_range",
                f"dispute_id {dispute_id!r} names no dispute sent on disputes.v1: answer "
                "only disputes you received.",
                "dispute_id",
                None,
            )
        m, now = self.machine, self.clock.now()
        try:
            return self.repository.apply(
                lambda c: m.on_dispute_confirmed(c, dispute_id, value["comment"], now),
                return_id=return_id,
            )
        except LifecycleError as error:
            raise Unusable(
                "out_of_range",
                f"dispute {dispute_id!r} cannot take this answer now: {error}",
                "dispute_id",
                None,
            ) from None

    def _dead_letter(
        self, refused: Unusable, raw: bytes | None, source: Source | None = None
    ) -> Rejection:
        key = None if source is None else source.key
        return Rejection(
            key,
            deadletter_value(
                source_topic=topics.DISPUTE_RESPONSES if source is None else source.topic,
                source_partition=0 if source is None else source.partition,
                source_offset=0 if source is None else source.offset,
                received_at=self.clock.now().isoformat(timespec="seconds"),
                reason_code=refused.reason_code,
                reason=refused.reason,
                field=refused.field,
                raw=raw,
            ),
            owner(topics.DISPUTE_RESPONSES, key, ""),
        )

    def tick(self, return_ids: Iterable[str]) -> list[Applied]:
        now = self.clock.now()
        return [
            self.repository.apply(functools.partial(_tick, self.machine, now), return_id=r)
            for r in return_ids
        ]


def _logged(topic: str, read: Callable[[bytes | None], R]) -> Callable[[bytes | None], R | None]:
    """``read``, with an unusable value logged and skipped (None)."""

    def logged(raw: bytes | None) -> R | None:
        try:
            return read(raw)
        except Unusable as unusable:
            _log_unusable(topic, unusable)
            return None

    return logged


def read_decision(raw: bytes | None) -> records.Decision | InvalidDecision | None:
    """A decision; one against its schema that names its id is answered (refused)."""
    try:
        return inputs.decision(raw)
    except Unusable as unusable:
        _log_unusable(topics.DECISIONS, unusable)
        value = unusable.value
        if value is not None and isinstance(value.get("decision_id"), str):
            return InvalidDecision(value, unusable.reason)
        return None


def _log_unusable(topic: str, unusable: Unusable) -> None:
    if unusable.reason_code == "not_json":
        log.error("lifecycle: a %s message is not JSON (skipped)", topic)
    elif unusable.value is None:
        log.error("lifecycle: a %s message is not an object (skipped)", topic)
    else:
        log.error(
            "lifecycle: invalid %s message (skipped): %s %s",
            topic,
            unusable.field,
            unusable.reason,
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
    handler = Handler(repository, machine, clock)
    names = {namespaced(name, settings.topic_namespace): name for name in INPUTS}
    outputs = {name: topology.contract[name] for name in OUTPUTS}

    async def run(fn: Callable[..., T], *args: Any) -> T:
        """``fn`` in a thread; database errors are retried with backoff (the work waits)."""
        return await retry_in_thread(
            fn, *args, what="lifecycle: database call", retry_on=DATABASE_ERRORS
        )

    async def publish(items: list[OutboxItem]) -> None:
        """Send outbox rows and wait for the broker's acks, then mark them published; on
        failure they stay unpublished for the relay."""
        if not items:
            return
        try:
            futures = [
                await outputs[item.topic].send(
                    key=item.key.encode(),
                    value=json.dumps(item.value, ensure_ascii=False).encode(),
                    force=True,
                )
                for item in items
            ]
            await asyncio.gather(*futures)
        except Exception:
            log.warning("lifecycle: publishing failed; the relay retries", exc_info=True)
            return
        await run(repository.mark_published, [item.id for item in items])

    async def dead_letters(rejected: list[Rejection]) -> None:
        """Publish refused dispute answers and wait for the acks (before the commit: a
        failure retries the batch, whose commands are idempotent)."""
        futures = [
            await outputs[topics.DEADLETTER].send(key=r.key, value=r.value, force=True)
            for r in rejected
        ] + [
            await topology.contract[topics.registry_deadletter_topic(r.registry)].send(
                key=r.key, value=r.value, force=True
            )
            for r in rejected
            if r.registry is not None
        ]
        await asyncio.gather(*futures)

    async def follow_up(applied: Iterable[AppliedCommand]) -> None:
        """Publish what was applied, then take the payments it asked for."""
        applied = list(applied)
        await publish([item for a in applied for item in a.outbox])
        for payment_id in (p for a in applied for p in a.outcome.gateway_calls):
            settled = await run(reconciler.settle, payment_id)
            if settled is not None:
                await follow_up([settled])  # a refund of an excess, at once

    @app.task
    async def lifecycle_inputs() -> None:
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(
            *names,
            bootstrap_servers=settings.bootstrap_servers,
            **client_options(settings),
            group_id=f"{settings.app_id}-lifecycle",
            client_id=f"{settings.app_id}-lifecycle",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **group_timing(),
            isolation_level="read_committed",
        )
        await consumer.start()
        log.info("lifecycle: reading %s", ", ".join(sorted(names)))
        try:
            while True:
                try:
                    batch = await consumer.getmany(timeout_ms=500, max_records=BATCH)
                    messages = [
                        (names[m.topic], m.value, Source(m.topic, m.partition, m.offset, m.key))
                        for tp in sorted(batch)
                        for m in batch[tp]
                    ]
                    if messages:
                        rejected: list[Rejection] = []
                        await follow_up(await run(handler.batch, messages, rejected))
                        await dead_letters(rejected)
                        await consumer.commit()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("lifecycle: the input loop failed; retrying in 1s")
                    await asyncio.sleep(1)
        finally:
            await consumer.stop()

    @app.timer(interval=config.timer_interval_s, on_leader=False)
    async def lifecycle_timer() -> None:
        """Reminders, overdue, unanswered disputes: returns with something due today."""
        due = await run(repository.due, local_day(clock.now()))
        if due:
            await follow_up(await run(handler.tick, due))

    @app.timer(interval=config.reconcile_interval_s, on_leader=False)
    async def payment_reconciler() -> None:
        """Settle every pending payment with the gateway (after a restart too)."""
        await follow_up(await run(reconciler.settle_all))

    @app.timer(interval=RELAY_INTERVAL_S, on_leader=False)
    async def outbox_relay() -> None:
        """Publish outbox rows a crash left unpublished (at least once, same ids)."""
        items = await run(repository.unpublished, dt.datetime.now(dt.UTC) - RELAY_GRACE)
        if items:
            log.info("lifecycle: relaying %s unpublished message(s)", len(items))
            await publish(items)


def _tick(machine: Machine, at: dt.datetime, case: Case | None) -> CommandResult:
    return CommandResult(None) if case is None else machine.on_tick(case, at)


def _invalid_decision(invalid: InvalidDecision) -> DecisionOutcome:
    value = invalid.value

    def whole(name: str) -> int:
        field = value.get(name)
        return field if isinstance(field, int) and not isinstance(field, bool) else 0

    return DecisionOutcome(
        decision_id=str(value["decision_id"])[:64],
        return_id=str(value.get("return_id", ""))[:64],
        pinfl=str(value.get("pinfl", ""))[:14],
        tax_year=whole("tax_year"),
        version=whole("version"),
        decision=str(value.get("decision", ""))[:8],
        channel=str(value.get("channel", ""))[:16],
        outcome="refused",
        reason_code="bad_request",
        reason=invalid.reason,
        current_version=None,
    )
