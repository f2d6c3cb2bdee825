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
import hashlib
from collections.abc import Sequence
from typing import Any, Protocol

import msgspec

from contracts.registry_events import (
    MAX_EVENT_BYTES,
    EventRejected,
    Problem,
    RegistryEvent,
    canonical_json,
)
from contracts.strict_json import MAX_DEPTH, array_elements, parse_json, too_deep_at
from contracts.topics import namespaced, registry_topic
from contracts.typed_events import canonical_bytes
from core.clock import Clock
from portal.kafka import OutgoingMessage
from storage.api_keys import AcceptedEventRepository, Claim

MAX_BATCH_EVENTS = 1000
BODY_SLACK_BYTES = 1024 * 1024  # the array's brackets, commas and spaces


def max_body_bytes(max_event_bytes: int = MAX_EVENT_BYTES) -> int:
    """Room for a full batch of the largest events."""
    return MAX_BATCH_EVENTS * max_event_bytes + BODY_SLACK_BYTES


MAX_BODY_BYTES = max_body_bytes()  # with the default event size limit
CLAIM_ATTEMPTS = 3


class Publisher(Protocol):
    async def publish(self, messages: Sequence[OutgoingMessage]) -> None: ...


class Validator(Protocol):
    """The stream's validation (``portal.validation.EventValidator``)."""

    def __call__(self, raw: bytes, registry: str) -> RegistryEvent: ...

    def problems(self, raw: bytes, registry: str) -> list[Problem]: ...


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


def split_body(body: bytes, max_event_bytes: int = MAX_EVENT_BYTES) -> list[bytes]:
    """The raw bytes of each event of a request body, for the stream's strict parser.

    A JSON array is a batch: each element is passed on as it was sent, found without being
    read (by msgspec, or for a batch msgspec refuses by a bounded scan of its structure),
    so the parser of the Kafka path (``decode_event``, ``event_problems``) judges each
    exactly as it would judge a message: a key repeated in one object, NaN, a lone
    surrogate, a huge number, invalid UTF-8, nesting deeper than 8 levels (the scan stops
    there and the parser names it). Anything else is one event, kept byte for byte, so a
    value that is not JSON at all gets the stream's own ``not_json`` answer.
    """
    if not body.lstrip().startswith(b"["):
        return [body]
    try:
        elements = [bytes(raw) for raw in _ELEMENTS.decode(body)]
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        elements, end = array_elements(body, MAX_DEPTH + 1)
        cut = bool(elements) and too_deep_at(elements[-1], MAX_DEPTH) is not None
        if (end is None and not cut) or (end is not None and body[end:].strip()):
            if len(body) > max_event_bytes:  # not one event either: say what it is
                raise RequestRejected(
                    422,
                    "not_json",
                    "The body is not a JSON array: it does not close, or text follows it.",
                ) from None
            return [body]  # the strict parser names what is wrong with it
    if not elements:
        raise RequestRejected(422, "empty_batch", "The batch holds no events.")
    if len(elements) > MAX_BATCH_EVENTS:
        raise RequestRejected(
            413,
            "batch_too_large",
            f"A batch holds at most {MAX_BATCH_EVENTS} events; this one has {len(elements)}.",
        )
    return elements


_ELEMENTS = msgspec.json.Decoder(list[msgspec.Raw])
_PLAIN = msgspec.json.Decoder()


class IngestService:
    def __init__(
        self,
        validate: Validator,
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
        self._max_event_bytes = max_event_bytes
        self._validate = validate
        self._accepted = accepted
        self._publisher = publisher
        self._clock = clock
        self._namespace = topic_namespace

    async def ingest(self, registry: str, key_id: str, body: bytes) -> IngestResult:
        """Validate, deduplicate and publish the events of one request body."""
        raws = await asyncio.to_thread(split_body, body, self._max_event_bytes)
        batch = not (len(raws) == 1 and raws[0] is body)  # one event is sent as it came
        decoded, errors = await asyncio.to_thread(self._validate_all, registry, raws, batch)
        for _attempt in range(CLAIM_ATTEMPTS):
            plan = await asyncio.to_thread(self._plan, registry, decoded, errors)
            if plan.errors:
                return IngestResult([], [], plan.errors)
            claims = [_claim(e) for _, e, _ in plan.new]
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
        self, registry: str, raws: list[bytes], batch: bool
    ) -> tuple[list[tuple[int, RegistryEvent, bytes]], list[EventError]]:
        """Each event as the stream decodes it, with the bytes to publish (a batch's events
        as canonical JSON); for an invalid one, every problem it has (the first is the
        stream's dead letter)."""
        decoded: list[tuple[int, RegistryEvent, bytes]] = []
        errors: list[EventError] = []
        for index, raw in enumerate(raws):
            try:
                event = self._validate(raw, registry)
            except EventRejected:
                event_id = event_id_of(raw)
                errors.extend(
                    EventError(index, event_id, p.reason_code, p.field, p.reason)
                    for p in self._validate.problems(raw, registry)
                )
                continue
            decoded.append((index, event, canonical_bytes(_PLAIN.decode(raw)) if batch else raw))
        return decoded, errors

    def _plan(
        self,
        registry: str,
        decoded: list[tuple[int, RegistryEvent, bytes]],
        validation_errors: list[EventError],
    ) -> _Plan:
        stored = self._accepted.lookup(registry, (e.event_id for _, e, _ in decoded))
        revisions = self._accepted.lookup_revisions(
            registry, ((record_key(e), e.revision) for _, e, _ in decoded)
        )
        plan = _Plan(errors=list(validation_errors))
        first_in_request: dict[str, str] = {}
        revision_in_request: dict[tuple[str, int], tuple[str, str]] = {}
        for index, event, raw in decoded:
            digest = event.content_digest
            known = stored.get(event.event_id)
            earlier = first_in_request.get(event.event_id)
            at = (record_key(event), event.revision)
            said = record_digest(event)
            held = revisions.get(at)
            before = (held.event_id, held.record_digest) if held is not None else None
            before = before or revision_in_request.get(at)
            if (known is not None and known.content_digest != digest) or (
                earlier is not None and earlier != digest
            ):
                plan.errors.append(_conflict(index, event.event_id))
            elif before is not None and before[0] != event.event_id and before[1] != said:
                plan.errors.append(_revision_conflict(index, event, before[0]))
            elif earlier is not None or (known is not None and known.published):
                plan.duplicates.append(event.event_id)
            elif known is not None:  # claimed by a request that never saw its ack
                plan.resend.append((index, event, raw))
            else:
                plan.new.append((index, event, raw))
            first_in_request.setdefault(event.event_id, digest)
            revision_in_request.setdefault(at, (event.event_id, said))
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


def _revision_conflict(index: int, event: RegistryEvent, other_event_id: str) -> EventError:
    return EventError(
        index=index,
        event_id=event.event_id,
        reason_code="conflict",
        field="revision",
        reason=(
            f"Revision {event.revision} of record {event.record_id!r} was already accepted "
            f"with other content (event_id {other_event_id!r}); publish the change as a "
            "higher revision."
        ),
    )


def record_key(event: RegistryEvent) -> str:
    """The stream ledger's record (taxpayer, year, record_id), hashed: no PINFL stored."""
    year = "" if event.tax_year is None else str(event.tax_year)
    return hashlib.sha256(f"{event.pinfl}:{year}:{event.record_id}".encode()).hexdigest()


def record_digest(event: RegistryEvent) -> str:
    """What a revision says (the ledger compares action and data, not event_id or time)."""
    return hashlib.sha256(canonical_json({"action": event.action, "data": event.data})).hexdigest()


def _claim(event: RegistryEvent) -> Claim:
    return Claim(
        event.event_id,
        event.content_digest,
        record_key(event),
        event.revision,
        record_digest(event),
    )


def event_id_of(raw: bytes) -> str | None:
    """The event_id of a rejected event, when the strict parser can read one."""
    try:
        value: Any = parse_json(raw)
    except EventRejected:
        return None
    event_id = value.get("event_id") if isinstance(value, dict) else None
    return event_id if isinstance(event_id, str) and len(event_id) <= 64 else None
