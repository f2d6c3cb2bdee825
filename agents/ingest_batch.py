"""One batch of registry messages: decode ► fold into ledgers ► compute ► emit, crash-safe.

The faust wiring (``agents/registry_ingest.py``) hands each ``stream.take_events`` batch
to ``RegistryIngest.process``; everything here works on plain stores and an output port,
so the unit tests drive it without faust or a broker.

Crash safety under at-least-once delivery (a kill -9 may lose any suffix of what was
sent to any partition, and offsets are committed only after the producer is flushed):

- *State before its outputs.* Changed ledgers are written to the changelog and the
  producer is flushed before the returns computed from them are sent. So a return on
  ``returns.v1`` always comes from durable ledger state: a version number never comes
  back with other content after a restart (the projection keeps the first copy of a
  version, so that would stick).
- *Who re-sends a lost return.* Each ledger remembers the input that produced its
  last version (``last_event``: an event key, or a release marker). When that input is
  replayed and finds nothing new to compute, it sends the current version again.
- *Releases wait for the backlog.* A release names, per registry topic, the end offset
  at the moment the year closed; the partition's returns are computed once the batch
  loop has passed them. Otherwise a release read ahead of a backlog would compute every
  return, then a new version for each late-read event.
- *No silent skips.* Our own read position per partition is stored with the state; a
  message beyond it means faust skipped (and acked) some: they are read again first.
- One changelog write and at most one new version per ledger per batch.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from agents.completeness import release_key
from agents.ledger import Ledger, apply_event, empty_ledger, event_key, ledger_key
from agents.ledger import Outcome as Fold
from agents.returns_builder import current_version, next_version
from contracts.deadletters import deadletter_value
from contracts.redaction import mask_pinfl
from contracts.registry_events import EventRejected, RegistryEvent, ValidationPolicy, decode_event
from contracts.topics import registry_of_topic
from proactax.clock import Clock, rfc3339
from tax.errors import TaxError

log = logging.getLogger(__name__)

RELEASE_CHUNK = 1_000  # ledgers computed, written and flushed at a time during a release


@dataclasses.dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class Store(Protocol):
    """A changelog-backed table: reads are local, writes go to the given partition."""

    def get(self, key: str) -> Any: ...

    def put(self, partition: int, key: str, value: Any) -> None: ...

    def items(self) -> Iterable[tuple[str, Any]]: ...


class Outputs(Protocol):
    async def send_return(self, pinfl: str, value: dict[str, Any]) -> None: ...

    async def send_dead_letter(self, key: bytes | None, value: bytes) -> None: ...

    async def flush(self) -> None:
        """Return once everything sent or written so far is acknowledged by the broker."""
        ...


@dataclasses.dataclass(frozen=True)
class Outcome:
    read: list[Message]  # processed (replays included); not those held back by a gap
    gaps: dict[tuple[str, int], int]  # (topic, partition) -> the offset to read again from
    held: dict[tuple[str, int], list[Message]]  # what came after each gap, in order


def position_key(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


POSITION_PREFIX = "position:"  # ledger-table keys that hold read positions, not ledgers


def is_position(key: str) -> bool:
    return key.startswith(POSITION_PREFIX)


class PositionsBesideLedgers:
    """Read positions kept in the ledger table itself, in the changelog partition of the
    ledgers they cover, and written after them (ChangelogWrites sends them last).

    A partition's log keeps a prefix of what was sent to it, whatever fails. So whoever
    recovers the table, after a kill -9 during a flush or while a worker that has just
    lost the partition still finishes its batch, never finds a position without the
    ledger changes made by the events before it. With positions in a table of their own
    (another log) a new owner once recovered the position and not the ledger: that
    taxpayer's events were never folded again and the return never came (two workers,
    bench/season.py). ``legacy``: the positions table of earlier versions, still read."""

    def __init__(self, ledgers: Store, legacy: Store | None = None) -> None:
        self.ledgers = ledgers
        self.legacy = legacy

    def get(self, key: str) -> Any:
        held = self.ledgers.get(POSITION_PREFIX + key)
        if held is None and self.legacy is not None:
            held = self.legacy.get(key)
        return held

    def put(self, partition: int, key: str, value: Any) -> None:
        self.ledgers.put(partition, POSITION_PREFIX + key, value)

    def items(self) -> Iterable[tuple[str, Any]]:
        n = len(POSITION_PREFIX)
        return [(key[n:], value) for key, value in self.ledgers.items() if is_position(key)]


class StallWatch:
    """Partitions whose read position stays behind the log's end with no progress.

    A gap shows when a message beyond our position arrives; when faust skipped the last
    messages of a partition, nothing beyond arrives at all and the partition would
    stall for good. So, on a timer, a position that has not moved for ``ticks`` checks
    while the log has more is read from there by the glue's own consumer.

    A position also stands still while the agent is busy with other partitions, in one
    long batch (a release), or while faust simply has not fetched this one yet (a
    backlog): re-reading then would process the rest of the partition twice. So a check
    made while a batch is running (``working``) does not count, and a check counts
    otherwise only when the agent completed nothing since the last one (``activity``
    unchanged), or when faust says it has already handed over the message at our
    position or a later one (``delivered``: its last delivered offset per partition),
    which is the signature of a skip.
    """

    def __init__(self, ticks: int = 2) -> None:
        self.ticks = ticks
        self.seen: dict[tuple[str, int], tuple[int, int]] = {}  # position, ticks unchanged
        self.last_activity: int | None = None

    def due(
        self,
        positions: Mapping[tuple[str, int], int | None],
        ends: Mapping[tuple[str, int], int | None],
        delivered: Mapping[tuple[str, int], int | None] | None = None,
        activity: int | None = None,
        working: bool = False,
    ) -> dict[tuple[str, int], int]:
        """What to read: the stalled partitions and our position on each."""
        busy = activity is not None and activity != self.last_activity
        self.last_activity = activity
        due, seen = {}, {}
        for tp, position in positions.items():
            end = ends.get(tp)
            if position is None or end is None or position >= end:
                continue
            last, unchanged = self.seen.get(tp, (None, 0))
            handed_over = (delivered or {}).get(tp)
            if last != position:
                unchanged = 0
            elif busy and (handed_over is None or handed_over < position):
                unchanged = 0  # not fetched yet, or still queued behind other partitions
            elif not working:
                unchanged += 1
            if unchanged >= self.ticks:
                due[tp], unchanged = position, 0
            seen[tp] = (position, unchanged)
        self.seen = seen
        return due


def release_marker(tax_year: int) -> str:
    return f"release:{tax_year}"


def release_wait_for(release: dict[str, Any]) -> dict[str, int]:
    wait_for = release.get("wait_for") or {}
    return {str(topic): int(offset) for topic, offset in wait_for.items()}


@dataclasses.dataclass
class _Batch:
    touched: dict[str, int] = dataclasses.field(default_factory=dict)  # ledger key -> partition
    ledgers: dict[str, Ledger] = dataclasses.field(default_factory=dict)  # the touched ones
    last_applied: dict[str, str] = dataclasses.field(default_factory=dict)  # key -> event key
    resend: set[str] = dataclasses.field(default_factory=set)  # replays that may re-send
    dead_letters: list[tuple[bytes | None, bytes]] = dataclasses.field(default_factory=list)
    positions: dict[tuple[str, int], int] = dataclasses.field(default_factory=dict)  # next
    gaps: dict[tuple[str, int], int] = dataclasses.field(default_factory=dict)
    held: dict[tuple[str, int], list[Message]] = dataclasses.field(default_factory=dict)


class RegistryIngest:
    def __init__(
        self,
        *,
        namespace: str,
        release_topic: str,
        policy: ValidationPolicy,
        parameters: Any,
        clock: Clock,
        ledgers: Store,
        releases: Store,
        positions: Store,
        outputs: Outputs,
    ) -> None:
        self.namespace = namespace
        self.release_topic = release_topic
        self.policy = policy
        self.parameters = parameters
        self.clock = clock
        self.ledgers = ledgers
        self.releases = releases
        self.positions = positions  # "<topic>:<partition>" -> the next offset to process
        self._starts: dict[tuple[str, int], int] = {}
        self.outputs = outputs

    # -- the batch ---------------------------------------------------------------------

    async def process(
        self, messages: Iterable[Message], starts: dict[tuple[str, int], int] | None = None
    ) -> Outcome:
        """Process a batch; say which messages were read and where the gaps are.

        ``starts``: where a partition begins for a consumer that never read it (the log's
        start), used while no position is stored: the very first messages can be skipped
        too."""
        batch = _Batch()
        self._starts = starts or {}
        read: list[Message] = []
        for message in messages:
            if not self._advance(message, batch):
                continue
            read.append(message)
            if message.topic == self.release_topic:
                self._note_release(message)
            else:
                self._ingest(message, batch)
        await self._run_ready_releases(batch)
        values = self._compute_touched(batch)
        for key, partition in batch.touched.items():
            self.ledgers.put(partition, key, batch.ledgers[key])
        for (topic, partition), offset in batch.positions.items():
            self.positions.put(partition, position_key(topic, partition), offset)
        await self.outputs.flush()  # the state is durable before anything derived from it
        for pinfl, value in values:
            await self.outputs.send_return(pinfl, value)
        for kafka_key, letter in batch.dead_letters:
            await self.outputs.send_dead_letter(kafka_key, letter)
        return Outcome(read=read, gaps=batch.gaps, held=batch.held)

    def _position(self, topic: str, partition: int) -> int | None:
        offset = self.positions.get(position_key(topic, partition))
        return None if offset is None else int(offset)

    def position(self, topic: str, partition: int) -> int | None:
        """Our durable read position: the next offset of the partition to process."""
        return self._position(topic, partition)

    def _advance(self, message: Message, batch: _Batch) -> bool:
        """Keep our own durable read position per partition, and refuse to skip ahead.

        faust acks (and so commits) messages its stream skips around a rebalance or a
        recovery; the consumer then resumes after them and they are never seen. Our
        position is written with the state it produced, so a jump past it is such a
        loss in the making: report the gap and hold the messages after it back; the glue
        reads the missing ones and hands them in again, followed by the held ones.
        """
        tp = (message.topic, message.partition)
        expected = batch.positions.get(tp, self._position(*tp))
        if expected is None:
            expected = self._starts.get(tp)
        if expected is not None and message.offset > expected:
            if tp not in batch.gaps:
                log.warning(
                    "offset gap on %s[%s]: at %s, expected %s; reading again from there",
                    message.topic,
                    message.partition,
                    message.offset,
                    expected,
                )
            batch.gaps[tp] = expected
            batch.held.setdefault(tp, []).append(message)
            return False
        if expected is None or message.offset == expected:
            batch.positions[tp] = message.offset + 1
        return True  # an older offset is a replay: processed again, idempotently

    # -- registry events ---------------------------------------------------------------

    def _decode(self, message: Message) -> RegistryEvent:
        registry = registry_of_topic(message.topic, self.namespace)
        if registry is None:  # cannot happen with our subscription; guard the invariant
            raise EventRejected("unknown_registry", "The topic is no registry's.", None)
        decoded = decode_event(message.value, registry, self.policy)
        if message.key != decoded.pinfl.encode():
            raise EventRejected("schema", "The Kafka key must be the event's pinfl.", "key")
        return decoded

    def _dead_letter(self, message: Message, rejected: EventRejected, batch: _Batch) -> None:
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
        batch.dead_letters.append((message.key, value))

    def _ingest(self, message: Message, batch: _Batch) -> None:
        try:
            decoded = self._decode(message)
        except EventRejected as rejected:
            self._dead_letter(message, rejected, batch)
            return
        if decoded.registry == "population":  # people: agents/projection.py
            return
        assert decoded.tax_year is not None
        key = ledger_key(decoded.pinfl, decoded.tax_year)
        ledger = batch.ledgers.get(key) or self.ledgers.get(key) or empty_ledger()
        outcome = apply_event(ledger, decoded)
        if outcome is Fold.CONFLICT:
            batch.touched[key] = message.partition  # the event id is remembered
            self._dead_letter(
                message,
                EventRejected(
                    "conflict",
                    "This event_id or revision was already used with different content.",
                    "event_id",
                ),
                batch,
            )
        elif outcome is Fold.APPLIED:
            ledger["partition"] = message.partition
            batch.touched[key] = message.partition
            batch.last_applied[key] = event_key(decoded)
        elif outcome is Fold.DUPLICATE and ledger["last_event"] == event_key(decoded):
            # A replay after a crash of the input that made the last version: that
            # version may never have reached returns.v1.
            batch.resend.add(key)
            batch.touched.setdefault(key, message.partition)
        if key in batch.touched:
            batch.ledgers[key] = ledger

    def _compute(self, build: Any, key: str, ledger: Ledger) -> dict[str, Any] | None:
        """``next_version``/``current_version``, or None when the engine refuses the facts
        (a year with no parameters, say): logged, never a crash of the partition."""
        pinfl, year = key.rsplit(":", 1)
        try:
            value: dict[str, Any] | None = build(
                pinfl, int(year), ledger, self.parameters, rfc3339(self.clock.now())
            )
            return value
        except TaxError as exc:
            log.error("no %s return for %s: %s", year, mask_pinfl(pinfl), exc)
            return None

    def _released(self, key: str, partition: int) -> bool:
        held = self.releases.get(release_key(int(key.rsplit(":", 1)[1]), partition))
        return held is not None and held.get("state", "done") == "done"

    def _compute_touched(self, batch: _Batch) -> list[tuple[str, dict[str, Any]]]:
        values = []
        for key, partition in batch.touched.items():
            if not self._released(key, partition):
                continue
            ledger = batch.ledgers[key]
            value = self._compute(next_version, key, ledger)
            if value is not None:
                ledger["last_event"] = batch.last_applied.get(key, ledger["last_event"])
            elif key in batch.resend:
                value = self._compute(current_version, key, ledger)
            if value is not None:
                values.append((key.rsplit(":", 1)[0], value))
        return values

    # -- releases ----------------------------------------------------------------------

    def _pending_releases(self) -> list[tuple[str, dict[str, Any]]]:
        """Read from the table every batch, never cached: a rebalance brings partitions
        (and their pending releases) to this worker at any time. The table is tiny."""
        return [
            (key, held) for key, held in self.releases.items() if held.get("state") == "pending"
        ]

    def _note_release(self, message: Message) -> None:
        try:
            release = json.loads(message.value or b"")
            tax_year = int(release["tax_year"])
            wait_for = release_wait_for(release)
        except (ValueError, KeyError, TypeError, AttributeError):
            log.error("ignoring a malformed release message at offset %s", message.offset)
            return
        key = release_key(tax_year, message.partition)
        if self.releases.get(key) is not None:
            return  # held already (all registries closed, then the cut-off, say)
        self.releases.put(
            message.partition,
            key,
            {
                "state": "pending",
                "tax_year": tax_year,
                "partition": message.partition,
                "offset": message.offset,
                "reason": release.get("reason", ""),
                "wait_for": wait_for,
                "noted_at": rfc3339(self.clock.now()),
            },
        )

    def _backlog_passed(self, partition: int, wait_for: dict[str, int], batch: _Batch) -> bool:
        def position(topic: str) -> int:
            held = batch.positions.get((topic, partition), self._position(topic, partition))
            return held or 0

        return all(position(topic) >= end for topic, end in wait_for.items())

    async def _run_ready_releases(self, batch: _Batch) -> None:
        for key, held in self._pending_releases():
            partition = int(held["partition"])
            if self._backlog_passed(partition, held["wait_for"], batch):
                await self._release(held, batch)
                self.releases.put(
                    partition, key, dict(held, state="done", released_at=rfc3339(self.clock.now()))
                )

    async def _release(self, held: dict[str, Any], batch: _Batch) -> None:
        """Compute every ledger of a year in one partition, in flushed chunks.

        The release counts as done only after its returns are flushed; a crash before
        that runs it again, and ledgers already at a version from this release re-send it.
        """
        tax_year, partition = int(held["tax_year"]), int(held["partition"])
        marker, suffix = release_marker(tax_year), f":{tax_year}"
        in_batch = {
            key: ledger
            for key, ledger in batch.ledgers.items()
            if key.endswith(suffix) and ledger["partition"] == partition
        }
        keys = [
            key
            for key, ledger in self.ledgers.items()
            if key.endswith(suffix)
            and not is_position(key)
            and ledger.get("partition") == partition
            and key not in in_batch
        ]
        keys += in_batch  # folded in this batch, not yet written
        log.info(
            "tax year %s released on partition %s (%s): %s ledgers",
            tax_year,
            partition,
            held.get("reason"),
            len(keys),
        )
        for chunk in _chunks(keys, RELEASE_CHUNK):
            values = []
            for key in chunk:
                ledger = in_batch.get(key) or self.ledgers.get(key)
                value = self._compute(next_version, key, ledger)
                if value is not None:
                    ledger["last_event"] = marker
                    self.ledgers.put(partition, key, ledger)
                elif ledger["last_event"] == marker:
                    value = self._compute(current_version, key, ledger)
                if value is not None:
                    values.append((key[: -len(suffix)], value))
            await self.outputs.flush()
            for pinfl, value in values:
                await self.outputs.send_return(pinfl, value)
        await self.outputs.flush()


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
