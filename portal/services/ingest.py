"""Ingest of registry events over HTTP: validate every event exactly as the stream does,
deduplicate on ``(registry, event_id)``, publish to ``registry.<name>.v1`` and answer only
once the broker has acknowledged every message.

A request is all or nothing: one invalid or conflicting event rejects the whole request
and nothing of it is published.

Idempotency: an event is *claimed* (``event_id`` + content digest) in the database before
it is sent and marked published after the broker's acknowledgement. A repeat with the same
digest is a duplicate (answered, not re-sent); another digest is a ``conflict``. A claim
whose send failed is dropped; one left by a crash between claim and acknowledgement is
sent again by the next identical request (the stream's ledger ignores a known
``event_id``, so a second copy on the topic is harmless).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from contracts.registry_events import MAX_EVENT_BYTES, EventRejected, RegistryEvent
from contracts.topics import namespaced, registry_topic
from portal.kafka import OutgoingMessage
from proactax.clock import Clock
from storage.api_keys import AcceptedEventRepository

MAX_BATCH_EVENTS = 1000
BODY_SLACK_BYTES = 1024 * 1024  # the array's brackets, commas and spaces


def max_body_bytes(max_event_bytes: int = MAX_EVENT_BYTES) -> int:
    """Room for a full batch of the largest events."""
    return MAX_BATCH_EVENTS * max_event_bytes + BODY_SLACK_BYTES


MAX_BODY_BYTES = max_body_bytes()  # with the default event size limit
CLAIM_ATTEMPTS = 3


class Publisher(Protocol):
    async def publish(self, messages: Sequence[OutgoingMessage]) -> None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class EventError:
    index: int  # position in the request; 0 for a single event
    event_id: str | None
    reason_code: str  # the dead-letter reason codes of CONTRACT.md
    field: str | None
    reason: str


class RequestRejected(Exception):
    """The request as a whole cannot be taken (too many events, an empty batch)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class ConcurrentClaim(RuntimeError):
    """Other requests kept claiming the same event ids; the caller may retry."""


@dataclasses.dataclass(frozen=True, slots=True)
class IngestResult:
    accepted: list[str]
    duplicates: list[str]
    errors: list[EventError]

    @property
    def only_conflicts(self) -> bool:
        return bool(self.errors) and all(e.reason_code == "conflict" for e in self.errors)


def split_body(body: bytes) -> list[bytes]:
    """The raw bytes of each event of a request body.

    A JSON array is a batch: each element is re-serialised canonically (keys sorted, no
    spaces: the bytes the stream would receive), keeping whatever the stream's strict
    parser rejects (a key repeated in one object, NaN, a lone surrogate) so that the
    stream's validation sees it. Anything else is one event, kept byte for byte, so a value
    that is not JSON at all gets the stream's own ``not_json`` answer.
    """
    try:
        value = json.loads(body, object_pairs_hook=_Pairs)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return [body]
    if not isinstance(value, list) or isinstance(value, _Pairs):
        return [body]
    if not value:
        raise RequestRejected(422, "empty_batch", "The batch holds no events.")
    if len(value) > MAX_BATCH_EVENTS:
        raise RequestRejected(
            413,
            "batch_too_large",
            f"A batch holds at most {MAX_BATCH_EVENTS} events; this one has {len(value)}.",
        )
    return [_canonical(item).encode("utf-8") for item in value]


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its key/value pairs in document order, repeated keys kept."""


def _canonical(node: Any) -> str:
    """``canonical_json`` of the parsed value, but repeated keys survive (stable sort)."""
    if isinstance(node, _Pairs):
        items = sorted(node, key=lambda pair: pair[0])
        return "{" + ",".join(f"{_scalar(k)}:{_canonical(v)}" for k, v in items) + "}"
    if isinstance(node, list):
        return "[" + ",".join(_canonical(item) for item in node) + "]"
    return _scalar(node)


def _scalar(node: Any) -> str:
    text = json.dumps(node, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: keep it escaped, as it was sent
        return json.dumps(node)
    return text


class IngestService:
    def __init__(
        self,
        validate: Callable[[bytes, str], RegistryEvent],
        accepted: AcceptedEventRepository,
        publisher: Publisher,
        clock: Clock,
        topic_namespace: str = "",
        max_event_bytes: int = MAX_EVENT_BYTES,
        body_cap_bytes: int | None = None,
    ) -> None:
        """``body_cap_bytes``: a lower cap than a full batch of the largest events."""
        full_batch = max_body_bytes(max_event_bytes)
        self.max_body_bytes = min(full_batch, body_cap_bytes or full_batch)
        self._validate = validate
        self._accepted = accepted
        self._publisher = publisher
        self._clock = clock
        self._namespace = topic_namespace

    async def ingest(self, registry: str, key_id: str, body: bytes) -> IngestResult:
        """Validate, deduplicate and publish the events of one request body."""
        raws = await asyncio.to_thread(split_body, body)
        decoded, errors = await asyncio.to_thread(self._validate_all, registry, raws)
        for _attempt in range(CLAIM_ATTEMPTS):
            plan = await asyncio.to_thread(self._plan, registry, decoded, errors)
            if plan.errors:
                return IngestResult([], [], plan.errors)
            claims = [(e.event_id, e.content_digest) for _, e, _ in plan.new]
            if await asyncio.to_thread(
                self._accepted.claim, registry, claims, key_id, self._clock.now()
            ):
                break
        else:
            raise ConcurrentClaim("the same events are being sent by other requests")
        to_send = sorted(plan.new + plan.resend, key=lambda item: item[0])
        topic = namespaced(registry_topic(registry), self._namespace)
        try:
            await self._publisher.publish(
                [OutgoingMessage(topic, event.pinfl.encode(), raw) for _, event, raw in to_send]
            )
        except BaseException:
            await asyncio.to_thread(self._accepted.release, registry, [c[0] for c in claims])
            raise
        sent_ids = [event.event_id for _, event, _ in to_send]
        await asyncio.to_thread(
            self._accepted.mark_published, registry, sent_ids, self._clock.now()
        )
        return IngestResult(sent_ids, plan.duplicates, [])

    def _validate_all(
        self, registry: str, raws: list[bytes]
    ) -> tuple[list[tuple[int, RegistryEvent, bytes]], list[EventError]]:
        decoded: list[tuple[int, RegistryEvent, bytes]] = []
        errors: list[EventError] = []
        for index, raw in enumerate(raws):
            try:
                decoded.append((index, self._validate(raw, registry), raw))
            except EventRejected as rejected:
                errors.append(
                    EventError(
                        index=index,
                        event_id=_event_id_of(raw),
                        reason_code=rejected.reason_code,
                        field=rejected.field,
                        reason=rejected.reason,
                    )
                )
        return decoded, errors

    def _plan(
        self,
        registry: str,
        decoded: list[tuple[int, RegistryEvent, bytes]],
        validation_errors: list[EventError],
    ) -> _Plan:
        stored = self._accepted.lookup(registry, (e.event_id for _, e, _ in decoded))
        plan = _Plan(errors=list(validation_errors))
        first_in_request: dict[str, str] = {}
        for index, event, raw in decoded:
            digest = event.content_digest
            known = stored.get(event.event_id)
            earlier = first_in_request.get(event.event_id)
            if (known is not None and known.content_digest != digest) or (
                earlier is not None and earlier != digest
            ):
                plan.errors.append(_conflict(index, event.event_id))
            elif earlier is not None or (known is not None and known.published):
                plan.duplicates.append(event.event_id)
            elif known is not None:  # claimed by a request that never saw its ack
                plan.resend.append((index, event, raw))
            else:
                plan.new.append((index, event, raw))
            first_in_request.setdefault(event.event_id, digest)
        plan.errors.sort(key=lambda e: e.index)
        return plan


@dataclasses.dataclass
class _Plan:
    errors: list[EventError]
    new: list[tuple[int, RegistryEvent, bytes]] = dataclasses.field(default_factory=list)
    resend: list[tuple[int, RegistryEvent, bytes]] = dataclasses.field(default_factory=list)
    duplicates: list[str] = dataclasses.field(default_factory=list)


def _conflict(index: int, event_id: str) -> EventError:
    return EventError(
        index=index,
        event_id=event_id,
        reason_code="conflict",
        field="event_id",
        reason="This event_id was already used with different content.",
    )


def _event_id_of(raw: bytes) -> str | None:
    """The event_id of a rejected event, when it has a readable one."""
    try:
        value: Any = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    event_id = value.get("event_id") if isinstance(value, dict) else None
    return event_id if isinstance(event_id, str) and len(event_id) <= 64 else None
