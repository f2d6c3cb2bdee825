"""One batch of one partition's registry messages: decode ► fold ► compute ► outputs.

streams/transactions.py hands each task (one partition number: the registry topics' and
the release topic's partition p, and the ledger and release stores of p) its part of a
consumer batch; everything here works on small ports (``Store``, ``Outputs``), so the
unit tests drive it without a broker.

A batch's returns, dead letters, store writes and input offsets commit in one Kafka
transaction or not at all, so nothing here repairs gaps or re-sends: why the read
positions beside the ledgers are gone is docs/decisions/0002-read-positions-beside-ledgers.md.

Kept here:
- One changelog write and at most one new version per ledger per batch.
- *Releases wait for the backlog.* A release names, per registry topic, the end offset at
  the moment the year closed; the partition's returns are computed once the task's
  committed input offsets have passed them. Otherwise a release read ahead of a backlog
  would compute every return, then a new version for each late-read event.
- *Releases run in chunks.* A running release computes ``RELEASE_CHUNK`` ledgers per
  batch, walking the store by key (year first) from a cursor kept in the release's own
  record, so a transaction and the memory it needs stay small whatever the population.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import orjson

from agents.completeness import release_key
from agents.ledger import FoldResult as Fold
from agents.ledger import (
    Ledger,
    Published,
    apply_event,
    empty_ledger,
    ledger_key,
    published_key,
    split_ledger_key,
    year_prefix,
)
from agents.receipts import conflict, held_record, owner
from agents.returns_builder import next_version
from contracts.deadletters import deadletter_value
from contracts.receipts import ids_of, receipt_value, stale, superseded_by
from contracts.redaction import mask_pinfl
from contracts.registry_events import EventRejected, RegistryEvent, ValidationPolicy, decode_event
from contracts.sandbox import SANDBOX_PREFIX
from contracts.topics import registry_of_topic
from core.clock import Clock, rfc3339
from tax.errors import TaxError

log = logging.getLogger(__name__)

RELEASE_CHUNK = 1_000  # ledgers a running release computes per batch (one transaction)


@dataclasses.dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class Store(Protocol):
    """One partition's table: reads see this batch's writes; writes commit with it."""

    def get(self, key: str) -> Any: ...

    def put(self, key: str, value: Any) -> None: ...

    def items(self, prefix: str = "", after: str | None = None) -> Iterable[tuple[str, Any]]:
        """Keys starting with ``prefix`` (and after ``after``), in key order."""
        ...


class Outputs(Protocol):
    """Messages of the batch; sent inside its transaction once the batch is computed."""

    def send_return(self, pinfl: str, value: dict[str, Any]) -> None: ...

    def send_dead_letter(self, key: bytes | None, value: bytes, registry: str | None) -> None:
        """To the staff's dead letters, and to ``registry``'s own when it is known."""
        ...

    def send_receipt(self, registry: str, event_id: str, value: bytes) -> None: ...


def release_wait_for(release: Mapping[str, Any]) -> dict[str, int]:
    wait_for = release.get("wait_for") or {}
    return {str(topic): int(offset) for topic, offset in wait_for.items()}


class _NoOutputs:
    def send_return(self, pinfl: str, value: dict[str, Any]) -> None:
        raise RuntimeError("outputs outside a batch")

    def send_dead_letter(self, key: bytes | None, value: bytes, registry: str | None) -> None:
        raise RuntimeError("outputs outside a batch")

    def send_receipt(self, registry: str, event_id: str, value: bytes) -> None:
        raise RuntimeError("outputs outside a batch")


@dataclasses.dataclass
class _Batch:
    ledgers: dict[str, Ledger] = dataclasses.field(default_factory=dict)  # the touched ones
    changed: set[str] = dataclasses.field(default_factory=set)  # folded: compute if released


class RegistryIngest:
    """The registry path of one partition (a task of streams/transactions.py)."""

    def __init__(
        self,
        *,
        partition: int,
        namespace: str,
        release_topic: str,
        policy: ValidationPolicy,
        parameters: Any,
        clock: Clock,
        ledgers: Store,
        releases: Store,
    ) -> None:
        self.partition = partition
        self.namespace = namespace
        self.release_topic = release_topic
        self.policy = policy
        self.parameters = parameters
        self.clock = clock
        self.ledgers = ledgers
        self.releases = releases
        self.outputs: Outputs = _NoOutputs()
        self.now = ""
        self._registries: dict[str, str | None] = {}

    # -- the batch ---------------------------------------------------------------------

    def process(
        self, messages: Iterable[Message], positions: dict[str, int], outputs: Outputs
    ) -> None:
        """Process a batch of this partition, in offset order per topic.

        ``positions``: topic -> the next offset to process, the task's committed input
        offsets; advanced here as messages are processed (the transaction commits them)."""
        self.outputs = outputs
        self.now = rfc3339(self.clock.now())  # the receipts' time
        batch = _Batch()
        for message in messages:
            positions[message.topic] = message.offset + 1
            if message.topic == self.release_topic:
                self._note_release(message)
            else:
                self._ingest(message, batch)
        self._start_ready_releases(positions)
        self._compute_changed(batch)
        for key, ledger in batch.ledgers.items():
            self.ledgers.put(key, ledger)
        self._release_chunk()

    def has_work(self) -> bool:
        """A release is running: run a batch even when no message came."""
        return any(held.get("state") == "running" for _, held in self.releases.items())

    # -- registry events ---------------------------------------------------------------

    def _registry(self, topic: str) -> str | None:
        """The registry of ``topic``, looked up once a topic (a few of them, every message)."""
        if topic not in self._registries:
            self._registries[topic] = registry_of_topic(topic, self.namespace)
        return self._registries[topic]

    def _decode(self, message: Message) -> RegistryEvent:
        registry = self._registry(message.topic)
        if registry is None:  # cannot happen with our subscription; guard the invariant
            raise EventRejected("unknown_registry", "The topic is no registry's.", None)
        decoded = decode_event(message.value, registry, self.policy)
        if message.key != decoded.pinfl.encode():
            raise EventRejected("schema", "The Kafka key must be the event's pinfl.", "key")
        return decoded

    def _receipt(
        self, event: RegistryEvent, status: str, reason: str | None = None, **refused: Any
    ) -> None:
        self.outputs.send_receipt(
            event.registry,
            event.event_id,
            receipt_value(
                event_id=event.event_id,
                registry=event.registry,
                record_id=event.record_id,
                revision=event.revision,
                status=status,
                at=self.now,
                reason=reason,
                **refused,
            ),
        )

    def _dead_letter(
        self, message: Message, rejected: EventRejected, event: RegistryEvent | None = None
    ) -> None:
        log.info(
            "dead letter %s from %s[%s]@%s: %s",
            rejected.reason_code,
            message.topic,
            message.partition,
            message.offset,
            rejected.field,
        )
        value = deadletter_value(
            source_topic=message.topic,
            source_partition=message.partition,
            source_offset=message.offset,
            received_at=rfc3339(self.clock.now()),
            reason_code=rejected.reason_code,
            reason=rejected.reason,
            field=rejected.field,
            raw=message.value,
        )
        registry = owner(message.topic, message.key, self.namespace)
        self.outputs.send_dead_letter(message.key, value, registry)
        if registry is None:
            return
        ids: tuple[str | None, str | None, int | None] = (
            (event.event_id, event.record_id, event.revision)
            if event is not None
            else ids_of(message.value)
        )
        event_id, record_id, revision = ids
        if event_id is not None:
            self.outputs.send_receipt(
                registry,
                event_id,
                receipt_value(
                    event_id=event_id,
                    registry=registry,
                    record_id=record_id,
                    revision=revision,
                    status="dead_lettered",
                    at=self.now,
                    reason=rejected.reason,
                    reason_code=rejected.reason_code,
                    field=rejected.field,
                ),
            )

    def _ingest(self, message: Message, batch: _Batch) -> None:
        try:
            decoded = self._decode(message)
        except EventRejected as rejected:
            self._dead_letter(message, rejected)
            return
        if decoded.registry == "population":  # people: agents/projection.py
            self._receipt(decoded, "accepted")
            return
        assert decoded.tax_year is not None
        key = ledger_key(decoded.pinfl, decoded.tax_year)
        ledger = batch.ledgers.get(key) or self.ledgers.get(key) or empty_ledger()
        held = held_record(ledger, decoded)
        outcome = apply_event(ledger, decoded)
        if outcome is Fold.CONFLICT:
            batch.ledgers[key] = ledger  # the event id is remembered
            field, reason = conflict(ledger, decoded)
            self._dead_letter(message, EventRejected("conflict", reason, field), decoded)
        elif outcome is Fold.APPLIED:
            batch.ledgers[key] = ledger
            batch.changed.add(key)
            self._receipt(decoded, "accepted")
            if held is not None and held["event_id"] != decoded.event_id:
                self._superseded(held, decoded)
        elif outcome is Fold.STALE:
            self._receipt(decoded, "superseded", stale(held["revision"], held["event_id"]))
        else:
            self._receipt(decoded, "duplicate")

    def _superseded(self, held: Any, by: RegistryEvent) -> None:
        """The receipt of the event whose revision ``by`` replaced."""
        self.outputs.send_receipt(
            by.registry,
            held["event_id"],
            receipt_value(
                event_id=held["event_id"],
                registry=by.registry,
                record_id=by.record_id,  # the same record: held is its older revision
                revision=held["revision"],
                status="superseded",
                at=self.now,
                reason=superseded_by(by.revision, by.event_id),
            ),
        )

    def _published(self, key: str, ledger: Ledger) -> Published:
        held: Published | None = self.ledgers.get(published_key(key))
        if held is not None:
            return held
        # a ledger written before the last version moved to a key of its own kept it inside
        old: dict[str, Any] = dict(ledger)
        return {
            "version": int(old.get("last_version", 0)),
            "fingerprint": str(old.get("last_fingerprint", "")),
        }

    def _compute(self, key: str, ledger: Ledger) -> None:
        """Send the next version if the content changed; a year the engine refuses (no
        parameters, say) is logged, never a crash of the partition."""
        pinfl, year = split_ledger_key(key)
        published = self._published(key, ledger)
        try:
            value = next_version(
                pinfl, year, ledger, published, self.parameters, rfc3339(self.clock.now())
            )
        except TaxError as exc:
            log.error("no %s return for %s: %s", year, mask_pinfl(pinfl), exc)
            return
        if value is None:
            return
        self.ledgers.put(published_key(key), published)
        self.outputs.send_return(pinfl, value)

    def _released(self, key: str) -> bool:
        if key.startswith(SANDBOX_PREFIX, key.find(":") + 1):  # a sandbox taxpayer: closed
            return True
        _, year = split_ledger_key(key)
        held = self.releases.get(release_key(year, self.partition))
        if held is None:
            return False
        state = held.get("state")
        if state == "done":
            return True
        # a running release has computed every ledger up to its cursor
        return state == "running" and held.get("cursor") is not None and key <= held["cursor"]

    def _compute_changed(self, batch: _Batch) -> None:
        for key in sorted(batch.changed):
            if self._released(key):
                self._compute(key, batch.ledgers[key])

    # -- releases ----------------------------------------------------------------------

    def _note_release(self, message: Message) -> None:
        try:
            release = orjson.loads(message.value or b"")
            tax_year = int(release["tax_year"])
            wait_for = release_wait_for(release)
        except (ValueError, KeyError, TypeError, AttributeError):
            log.error("ignoring a malformed release message at offset %s", message.offset)
            return
        key = release_key(tax_year, self.partition)
        if self.releases.get(key) is not None:
            return  # held already (all registries closed, then the cut-off, say)
        self.releases.put(
            key,
            {
                "state": "pending",
                "tax_year": tax_year,
                "partition": self.partition,
                "offset": message.offset,
                "reason": release.get("reason", ""),
                "wait_for": wait_for,
                "noted_at": rfc3339(self.clock.now()),
            },
        )

    def _start_ready_releases(self, positions: Mapping[str, int]) -> None:
        """A pending release starts once the committed offsets passed its ``wait_for``."""
        for key, held in list(self.releases.items()):
            if held.get("state") != "pending":
                continue
            wait_for = release_wait_for(held)
            if all(positions.get(topic, 0) >= end for topic, end in wait_for.items()):
                log.info(
                    "tax year %s released on partition %s (%s)",
                    held["tax_year"],
                    self.partition,
                    held.get("reason"),
                )
                self.releases.put(key, dict(held, state="running", cursor=None))

    def _release_chunk(self) -> None:
        """Compute the next ``RELEASE_CHUNK`` ledgers of a running release, in key order
        after its cursor; the release is done when the walk reaches the year's end."""
        for key, held in list(self.releases.items()):
            if held.get("state") != "running":
                continue
            tax_year = int(held["tax_year"])
            cursor = held.get("cursor")
            done = 0
            finished = True
            for ledger_key_, ledger in self.ledgers.items(year_prefix(tax_year), cursor):
                if done == RELEASE_CHUNK:
                    finished = False
                    break
                self._compute(ledger_key_, ledger)
                cursor = ledger_key_
                done += 1
            if finished:
                log.info("tax year %s computed on partition %s", tax_year, self.partition)
                self.releases.put(
                    key, dict(held, state="done", released_at=rfc3339(self.clock.now()))
                )
            else:
                self.releases.put(key, dict(held, cursor=cursor))
            return  # one chunk per batch
