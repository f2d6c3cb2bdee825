"""The registry batch processor (agents/ingest_batch.py) without faust or a broker.

Real folding rules, real tax engine; the stores and the producer are a small model of
Kafka's durability: a write or a send is *pending* until ``flush``, and a crash loses a
random part of what is pending, per partition suffix, as a kill -9 does. The broker-backed
twins are tests/integration/test_pipeline.py and test_restart.py.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.ingest_batch import Message, PositionsBesideLedgers, RegistryIngest
from contracts.registry_events import ValidationPolicy
from contracts.returns_v1 import content_fingerprint
from proactax.clock import FixedClock
from proactax.settings import Settings
from registries_mock.season import Event, generate_season
from streams.topology import YEAR_RELEASED
from tax import load_parameters
from tests.support.oracle import expected_returns

PARAMETERS = load_parameters()
PARTITIONS = 2


class Durable:
    """What the broker holds: changelog entries per (table, partition), sent messages."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, Any]] = {"ledger": {}, "releases": {}, "positions": {}}
        self.returns: list[dict[str, Any]] = []
        self.dead_letters: list[dict[str, Any]] = []
        self.committed: dict[tuple[str, int], int] = {}


class Pending:
    """Writes and sends not yet acknowledged, in order, each tagged with its partition."""

    def __init__(self, durable: Durable) -> None:
        self.durable = durable
        self.items: list[tuple[str, int, Any]] = []  # (kind, partition, payload)

    def flush(self) -> None:
        for item in self.items:
            self._apply(item)
        self.items.clear()

    def crash(self, rng: random.Random) -> list[tuple[str, int, Any]]:
        """Keep a random prefix of each partition's pending items; return the rest (lost
        in a crash; for a worker still alive, what lands after the new owner recovered)."""
        groups: dict[tuple[str, int], list[tuple[str, int, Any]]] = {}
        for item in self.items:
            groups.setdefault((item[0], item[1]), []).append(item)
        kept = {
            id(item) for group in groups.values() for item in group[: rng.randint(0, len(group))]
        }
        rest = []
        for item in self.items:
            if id(item) in kept:
                self._apply(item)
            else:
                rest.append(item)
        self.items.clear()
        return rest

    def _apply(self, item: tuple[str, int, Any]) -> None:
        kind, _, payload = item
        if kind == "returns":
            self.durable.returns.append(payload)
        elif kind == "deadletter":
            self.durable.dead_letters.append(payload)
        else:
            key, value = payload
            self.durable.tables[kind][key] = json.loads(value)


class ModelStore:
    def __init__(self, name: str, pending: Pending) -> None:
        self.name = name
        self.pending = pending
        self.local = json.loads(json.dumps(pending.durable.tables[name]))  # recovery

    def get(self, key: str) -> Any:
        return self.local.get(key)

    def put(self, partition: int, key: str, value: Any) -> None:
        self.local[key] = value
        self.pending.items.append((self.name, partition, (key, json.dumps(value))))

    def items(self) -> Iterable[tuple[str, Any]]:
        return list(self.local.items())


class Crash(Exception):
    """kill -9 in the middle of a flush."""


class ModelOutputs:
    def __init__(self, pending: Pending) -> None:
        self.pending = pending
        self.crash_in_flush: random.Random | None = None

    async def send_return(self, pinfl: str, value: dict[str, Any]) -> None:
        self.pending.items.append(("returns", hash(pinfl) % PARTITIONS, value))

    async def send_dead_letter(self, key: bytes | None, value: bytes) -> None:
        self.pending.items.append(("deadletter", 0, json.loads(value)))

    async def flush(self) -> None:
        if self.crash_in_flush is not None:  # part of what was sent reaches the broker
            self.pending.crash(self.crash_in_flush)
            raise Crash
        self.pending.flush()


class Worker:
    """One incarnation of the processor over the durable state."""

    def __init__(self, durable: Durable) -> None:
        self.durable = durable
        self.pending = Pending(durable)
        self.log: Log | None = None  # where gaps are read from, if set
        self.outputs = ModelOutputs(self.pending)
        ledgers = ModelStore("ledger", self.pending)
        self.ingest = RegistryIngest(
            namespace="",
            release_topic=YEAR_RELEASED,
            policy=ValidationPolicy.from_settings(Settings.from_env({})),
            parameters=PARAMETERS,
            clock=FixedClock(datetime(2027, 2, 1, tzinfo=UTC)),
            ledgers=ledgers,
            releases=ModelStore("releases", self.pending),
            positions=self.positions(ledgers),
            outputs=self.outputs,
        )

    def positions(self, ledgers: ModelStore) -> Any:
        """As registry_ingest.py keeps them: in the ledgers' changelog, written after them."""
        return PositionsBesideLedgers(ledgers)

    async def process(self, batch: list[Message]) -> dict[tuple[str, int], int]:
        """The gaps found (the read messages are checked in their own test). With a
        ``log``, the gaps are read from it and processed, as registry_ingest.py does."""
        outcome = await self.ingest.process(batch)
        gaps = outcome.gaps
        while outcome.gaps and self.log is not None:
            refill: list[Message] = []
            for (topic, partition), start in outcome.gaps.items():
                held = outcome.held[(topic, partition)]
                refill += [
                    m
                    for m in self.log.messages
                    if (m.topic, m.partition) == (topic, partition)
                    and start <= m.offset < held[0].offset
                ]
                refill += held
            outcome = await self.ingest.process(refill)
        return gaps

    def commit(self, batch: list[Message]) -> None:
        """faust commits after the batch is acked, flushing the producer first."""
        self.pending.flush()
        for m in batch:
            self.durable.committed[(m.topic, m.partition)] = m.offset + 1


class Log:
    """The input topics: messages with offsets per (topic, partition)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.ends: dict[tuple[str, int], int] = {}

    def append(self, topic: str, partition: int, key: bytes | None, value: bytes) -> None:
        offset = self.ends.get((topic, partition), 0)
        self.ends[(topic, partition)] = offset + 1
        self.messages.append(Message(topic, partition, offset, key, value))

    def events(self, events: Iterable[Event]) -> None:
        for e in events:
            self.append(
                f"registry.{e.topic_registry}.v1",
                int(e.key) % PARTITIONS if e.key.isdigit() else 0,
                e.key.encode(),
                e.payload,
            )

    def release(self, tax_year: int, *, wait: bool = True) -> None:
        for partition in range(PARTITIONS):
            wait_for = {
                topic: end for (topic, p), end in self.ends.items() if p == partition and wait
            }
            value = {"tax_year": tax_year, "reason": "test", "wait_for": wait_for}
            self.append(YEAR_RELEASED, partition, b"r", json.dumps(value).encode())

    def after(
        self, committed: dict[tuple[str, int], int], rng: random.Random | None = None
    ) -> list[Message]:
        """What a consumer reads from the committed offsets on: each partition in order;
        with ``rng``, the partitions interleaved at random, as fetches from a broker are."""
        todo = [m for m in self.messages if m.offset >= committed.get((m.topic, m.partition), 0)]
        if rng is None:
            return todo
        queues: dict[tuple[str, int], list[Message]] = {}
        for m in todo:
            queues.setdefault((m.topic, m.partition), []).append(m)
        order = [tp for tp, queue in queues.items() for _ in queue]
        rng.shuffle(order)
        heads = {tp: iter(queue) for tp, queue in queues.items()}
        return [next(heads[tp]) for tp in order]


async def run(durable: Durable, messages: list[Message], batch_size: int) -> None:
    worker = Worker(durable)
    for start in range(0, len(messages), batch_size):
        batch = messages[start : start + batch_size]
        await worker.process(batch)
        worker.commit(batch)


def latest(returns: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    held: dict[str, dict[str, Any]] = {}
    for value in returns:
        if value["pinfl"] not in held or value["version"] > held[value["pinfl"]]["version"]:
            held[value["pinfl"]] = value
    return held


def fingerprints(values: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {p: content_fingerprint(v) for p, v in values.items()}


def versions_with_two_contents(returns: list[dict[str, Any]]) -> list[tuple[str, int]]:
    seen: dict[tuple[str, int], str] = {}
    clashes = []
    for value in returns:
        key = (value["pinfl"], value["version"])
        fingerprint = content_fingerprint(value)
        if seen.setdefault(key, fingerprint) != fingerprint:
            clashes.append(key)
    return clashes


async def test_a_season_with_faults_folds_to_the_oracle() -> None:
    season = generate_season(n_people=20, tax_year=2026, seed=2)
    log, durable = Log(), Durable()
    log.events(season.events)
    await run(durable, log.messages, batch_size=50)
    assert durable.returns == []  # the year is not complete yet
    log.release(2026)
    await run(durable, log.after(durable.committed), batch_size=50)
    assert fingerprints(latest(durable.returns)) == fingerprints(expected_returns(season))
    assert durable.dead_letters == []


async def test_a_release_read_ahead_of_the_backlog_waits_for_it() -> None:
    """The year closes after everything was published, but the worker reads the release
    first: still one version per taxpayer, computed once the backlog is through."""
    season = generate_season(n_people=30, tax_year=2026, seed=3)
    log, durable = Log(), Durable()
    log.events(season.events)
    log.release(2026)
    releases = [m for m in log.messages if m.topic == YEAR_RELEASED]
    others = [m for m in log.messages if m.topic != YEAR_RELEASED]
    await run(durable, releases + others, batch_size=40)
    assert fingerprints(latest(durable.returns)) == fingerprints(expected_returns(season))
    assert {v["version"] for v in durable.returns} == {1}


async def test_without_wait_for_a_release_computes_at_once() -> None:
    season = generate_season(n_people=10, tax_year=2026, seed=4)
    log, durable = Log(), Durable()
    log.release(2026, wait=False)
    log.events(season.events)
    await run(durable, log.messages, batch_size=1)
    assert fingerprints(latest(durable.returns)) == fingerprints(expected_returns(season))
    assert max(v["version"] for v in durable.returns) > 1  # every change made a version


async def test_replaying_the_whole_season_adds_no_version() -> None:
    season = generate_season(n_people=10, tax_year=2026, seed=4)
    log, durable = Log(), Durable()
    log.events(season.events)
    log.release(2026)
    await run(durable, log.messages, batch_size=25)
    before = {p: v["version"] for p, v in latest(durable.returns).items()}
    log.events(season.events)
    log.release(2026)  # a second release (the cut-off after closure, say) is a no-op
    await run(durable, log.after(durable.committed), batch_size=25)
    assert {p: v["version"] for p, v in latest(durable.returns).items()} == before


async def test_after_release_a_correction_makes_a_new_version_at_once() -> None:
    season = generate_season(n_people=20, tax_year=2026, seed=8)
    log, durable = Log(), Durable()
    log.events(season.events)
    log.release(2026)
    await run(durable, log.messages, batch_size=100)
    payroll = next(e for e in season.events if e.topic_registry == "payroll" and e.fault is None)
    assert payroll.value is not None
    held = latest(durable.returns)[payroll.key]
    correction = dict(
        payroll.value,
        event_id=payroll.value["event_id"] + "-fix",
        revision=payroll.value["revision"] + 10,
        data=dict(
            payroll.value["data"],
            gross_income_tiyin=payroll.value["data"]["gross_income_tiyin"] + 100_000,
        ),
    )
    log.events([Event("payroll", payroll.key, correction)])
    await run(durable, log.after(durable.committed), batch_size=100)
    now = latest(durable.returns)[payroll.key]
    assert now["version"] == held["version"] + 1
    assert now["totals"]["gross_income_tiyin"] == held["totals"]["gross_income_tiyin"] + 100_000


async def test_a_reused_event_id_is_a_conflict_dead_letter() -> None:
    season = generate_season(n_people=20, tax_year=2026, seed=5)
    payroll = next(e for e in season.events if e.topic_registry == "payroll" and e.fault is None)
    assert payroll.value is not None
    other = dict(payroll.value, data=dict(payroll.value["data"], gross_income_tiyin=7))
    log, durable = Log(), Durable()
    log.events([payroll, Event("payroll", payroll.key, other)])
    await run(durable, log.messages, batch_size=10)
    letters = durable.dead_letters
    assert [(d["reason_code"], d["field"]) for d in letters] == [("conflict", "event_id")]
    assert letters[0]["source_topic"] == "registry.payroll.v1"


async def test_a_key_that_is_not_the_pinfl_is_refused() -> None:
    season = generate_season(n_people=20, tax_year=2026, seed=6)
    payroll = next(e for e in season.events if e.topic_registry == "payroll" and e.fault is None)
    log, durable = Log(), Durable()
    log.append("registry.payroll.v1", 0, b"someone-else", payroll.payload)
    await run(durable, log.messages, batch_size=10)
    assert [(d["reason_code"], d["field"]) for d in durable.dead_letters] == [("schema", "key")]
    assert durable.returns == []


SEASON = generate_season(n_people=25, tax_year=2026, seed=11)
EXPECTED = fingerprints(expected_returns(SEASON))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    crashes=st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=4),
    batch_size=st.integers(min_value=1, max_value=60),
    close_after=st.floats(min_value=0.2, max_value=1.0),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    in_flush=st.booleans(),
    zombie=st.booleans(),
)
async def test_crashes_anywhere_lose_nothing_and_never_reuse_a_version(
    crashes: list[int],
    batch_size: int,
    close_after: float,
    seed: int,
    in_flush: bool,
    zombie: bool,
) -> None:
    """A worker killed after any batch or in the middle of its state flush, losing a
    random part of its unflushed writes and sends (a prefix of each partition's is kept),
    then restarted from the committed offsets: the current return of every taxpayer is
    the oracle's, and no version number ever carries two contents. ``zombie`` (after a
    batch): the worker lost its partitions in a rebalance but lives on. The new owner
    recovers while only part of the batch's writes have landed; the rest land after that,
    and the batch's offsets are committed."""
    await crash_and_recover(crashes, batch_size, close_after, seed, in_flush, zombie, Worker)


async def crash_and_recover(
    crashes: list[int],
    batch_size: int,
    close_after: float,
    seed: int,
    in_flush: bool,
    zombie: bool,
    make_worker: type[Worker],
) -> None:
    rng = random.Random(seed)
    log, durable = Log(), Durable()
    split = int(len(SEASON.events) * close_after)
    log.events(SEASON.events[:split])
    log.release(2026)  # the year closes early: late events recompute returns
    log.events(SEASON.events[split:])
    budget = sorted(crashes)
    processed = 0
    late: list[tuple[str, int, Any]] = []  # a zombie's writes that land after recovery
    while True:
        worker = make_worker(durable)
        worker.log = log
        for item in late:
            worker.pending._apply(item)
        late = []
        todo = log.after(durable.committed, rng)
        crashed = False
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            crash_now = bool(budget) and processed + len(batch) >= budget[0]
            if crash_now and in_flush:
                worker.outputs.crash_in_flush = rng
            try:
                await worker.process(batch)
            except Crash:
                pass
            processed += len(batch)
            if crash_now:
                budget.pop(0)
                rest = worker.pending.crash(rng)  # kill -9: no commit of this batch
                if zombie and not in_flush:
                    late = rest
                    for m in batch:
                        durable.committed[(m.topic, m.partition)] = m.offset + 1
                crashed = True
                break
            worker.commit(batch)
        if not crashed:
            break
    assert versions_with_two_contents(durable.returns) == []
    assert fingerprints(latest(durable.returns)) == EXPECTED


async def test_a_message_past_our_read_position_is_held_back_and_read_again() -> None:
    """faust may ack messages its stream skipped and resume after them; the processor
    notices the jump past its own stored position and asks for a re-read."""
    log, durable = Log(), Durable()
    log.events(SEASON.events)
    log.release(2026)
    worker = Worker(durable)
    payroll = [m for m in log.messages if m.topic == "registry.payroll.v1" and m.partition == 0]
    first, skipped, rest = payroll[:5], payroll[5:9], payroll[9:]
    await worker.process(first)
    worker.commit(first)
    outcome = await worker.ingest.process(rest)  # 5..8 never arrived
    assert outcome.gaps == {("registry.payroll.v1", 0): first[-1].offset + 1}
    assert outcome.read == []  # held back, not counted as read (feed health counts read ones)
    assert outcome.held == {("registry.payroll.v1", 0): rest}
    worker.commit(rest)  # faust commits past the gap all the same
    assert await worker.process(skipped + rest) == {}
    others = [m for m in log.messages if m not in payroll]
    assert await worker.process(others) == {}
    await worker.ingest.outputs.flush()
    assert fingerprints(latest(durable.returns)) == EXPECTED


async def test_with_no_position_yet_the_log_start_tells_a_skip() -> None:
    log, durable = Log(), Durable()
    log.events(SEASON.events)
    worker = Worker(durable)
    payroll = [m for m in log.messages if m.topic == "registry.payroll.v1" and m.partition == 0]
    outcome = await worker.ingest.process(payroll[3:], {("registry.payroll.v1", 0): 0})
    assert outcome.gaps == {("registry.payroll.v1", 0): 0}
    assert (await worker.ingest.process(payroll, {("registry.payroll.v1", 0): 0})).gaps == {}


@pytest.mark.parametrize("batch_size", [1, 7, 1000])
async def test_batch_size_does_not_change_the_result(batch_size: int) -> None:
    log, durable = Log(), Durable()
    log.events(SEASON.events)
    log.release(2026)
    await run(durable, log.messages, batch_size=batch_size)
    assert fingerprints(latest(durable.returns)) == EXPECTED
    assert {v["version"] for v in durable.returns} == {1}


class FakeStream:
    """faust's Stream as take_events uses it: ``await self.ack(event)``."""

    def __init__(self) -> None:
        self.acked: list[str] = []

    async def ack(self, event: str) -> bool:
        self.acked.append(event)
        return True


async def test_a_batch_is_acked_only_once_it_completed() -> None:
    from agents.registry_ingest import AckOnlyDone

    stream = FakeStream()
    batch = AckOnlyDone(stream)
    batch.clear()  # a batch is being processed ...
    assert await stream.ack("e1") is False  # ... and fails: take_events' finally acks nothing
    batch.set()
    assert await stream.ack("e2") is True
    again = AckOnlyDone(stream)  # faust restarted the agent on the same stream
    again.clear()
    assert await stream.ack("e3") is False
    again.set()
    assert await stream.ack("e4") is True
    assert stream.acked == ["e2", "e4"]
