"""The registry batch processor (agents/ingest_batch.py) without a broker.

Real folding rules, real tax engine; the stores and outputs are a small model of what
streams/transactions.py gives the processor: per partition task, a batch's store writes,
returns, dead letters and input offsets become durable together when its transaction
commits, and a crash (kill -9, a fenced zombie) before the commit leaves none of them.
The broker-backed twins are tests/integration/test_pipeline.py, test_restart.py and
tests/reliability/test_exactly_once.py.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import agents.ingest_batch
from agents.ingest_batch import Message, RegistryIngest
from contracts.receipts import revision_conflict
from contracts.registry_events import ValidationPolicy
from contracts.returns_v1 import content_fingerprint
from contracts.topics import YEAR_RELEASED
from contracts.validation import schema_problem
from core.clock import FixedClock
from core.settings import Settings
from devtools.registries_mock.season import Event, generate_season
from tax import load_parameters
from tests.support.oracle import expected_returns

PARAMETERS = load_parameters()
PARTITIONS = 2


class Durable:
    """What the broker holds once transactions commit: stores (as their changelogs would
    restore them), returns, dead letters and the committed input offsets."""

    def __init__(self) -> None:
        self.tables: dict[tuple[str, int], dict[str, Any]] = {}
        self.returns: list[dict[str, Any]] = []
        self.dead_letters: list[dict[str, Any]] = []
        self.own_dead_letters: list[tuple[str | None, dict[str, Any]]] = []
        self.receipts: list[dict[str, Any]] = []
        self.committed: dict[tuple[str, int], int] = {}

    def table(self, name: str, partition: int) -> dict[str, Any]:
        return self.tables.setdefault((name, partition), {})


class ModelStore:
    """A committed table plus the batch's overlay (streams/state.py's Overlay, in a dict)."""

    def __init__(self, committed: dict[str, Any]) -> None:
        self.committed = committed
        self.writes: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        value = self.writes.get(key, self.committed.get(key))
        return None if value is None else json.loads(json.dumps(value))  # a copy, as decoded

    def put(self, key: str, value: Any) -> None:
        self.writes[key] = json.loads(json.dumps(value))

    def items(self, prefix: str = "", after: str | None = None) -> Iterator[tuple[str, Any]]:
        keys = sorted(set(self.committed) | set(self.writes))
        for key in keys:
            if key.startswith(prefix) and (after is None or key > after):
                yield key, self.get(key)


class ModelOutputs:
    def __init__(self) -> None:
        self.returns: list[dict[str, Any]] = []
        self.dead_letters: list[dict[str, Any]] = []
        self.own_dead_letters: list[tuple[str | None, dict[str, Any]]] = []
        self.receipts: list[dict[str, Any]] = []

    def send_return(self, pinfl: str, value: dict[str, Any]) -> None:
        self.returns.append(json.loads(json.dumps(value)))

    def send_dead_letter(self, key: bytes | None, value: bytes, registry: str | None) -> None:
        self.dead_letters.append(json.loads(value))
        self.own_dead_letters.append((registry, json.loads(value)))

    def send_receipt(self, registry: str, event_id: str, value: bytes) -> None:
        receipt = json.loads(value)
        assert (receipt["registry"], receipt["event_id"]) == (registry, event_id)
        self.receipts.append(receipt)


class Worker:
    """One incarnation: a task per partition over the durable state."""

    def __init__(self, durable: Durable) -> None:
        self.durable = durable
        self.stores: dict[int, tuple[ModelStore, ModelStore]] = {}
        self.ingest: dict[int, RegistryIngest] = {}
        for partition in range(PARTITIONS):
            ledgers = ModelStore(durable.table("ledger", partition))
            releases = ModelStore(durable.table("releases", partition))
            self.stores[partition] = (ledgers, releases)
            self.ingest[partition] = RegistryIngest(
                partition=partition,
                namespace="",
                release_topic=YEAR_RELEASED,
                policy=ValidationPolicy.from_settings(Settings.from_env({})),
                parameters=PARAMETERS,
                clock=FixedClock(datetime(2027, 2, 1, tzinfo=UTC)),
                ledgers=ledgers,
                releases=releases,
            )

    def batch(self, partition: int, messages: list[Message], crash: bool = False) -> None:
        """One task's transaction: process, then commit everything, or (``crash``) nothing."""
        positions = {
            topic: offset for (topic, p), offset in self.durable.committed.items() if p == partition
        }
        outputs = ModelOutputs()
        self.ingest[partition].process(messages, positions, outputs)
        ledgers, releases = self.stores[partition]
        if crash:
            ledgers.writes, releases.writes = {}, {}
            return
        for store in (ledgers, releases):
            store.committed.update(store.writes)
            store.writes = {}
        self.durable.returns += outputs.returns
        self.durable.dead_letters += outputs.dead_letters
        self.durable.own_dead_letters += outputs.own_dead_letters
        self.durable.receipts += outputs.receipts
        for topic, offset in positions.items():
            self.durable.committed[(topic, partition)] = offset

    def process(self, messages: list[Message], crash: bool = False) -> None:
        """A consumer batch, split per task (each partition in offset order)."""
        for partition in range(PARTITIONS):
            mine = [m for m in messages if m.partition == partition]
            if mine or self.ingest[partition].has_work():
                self.batch(partition, mine, crash)

    def idle(self) -> None:
        """Batches with no message, while a release still runs."""
        while any(ingest.has_work() for ingest in self.ingest.values()):
            self.process([])


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


def run(durable: Durable, messages: list[Message], batch_size: int) -> None:
    worker = Worker(durable)
    for start in range(0, len(messages), batch_size):
        worker.process(messages[start : start + batch_size])
    worker.idle()


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


def test_a_season_with_faults_folds_to_the_oracle() -> None:
    season = generate_season(n_people=20, tax_year=2026, seed=2)
    log, durable = Log(), Durable()
    log.events(season.events)
    run(durable, log.messages, batch_size=50)
    assert durable.returns == []  # the year is not complete yet
    log.release(2026)
    run(durable, log.after(durable.committed), batch_size=50)
    assert fingerprints(latest(durable.returns)) == fingerprints(expected_returns(season))
    assert durable.dead_letters == []


def test_a_release_read_ahead_of_the_backlog_waits_for_it() -> None:
    """The year closes after everything was published, but the worker reads the release
    first: still one version per taxpayer, computed once the backlog is through."""
    season = generate_season(n_people=30, tax_year=2026, seed=3)
    log, durable = Log(), Durable()
    log.events(season.events)
    log.release(2026)
    releases = [m for m in log.messages if m.topic == YEAR_RELEASED]
    others = [m for m in log.messages if m.topic != YEAR_RELEASED]
    run(durable, releases + others, batch_size=40)
    assert fingerprints(latest(durable.returns)) == fingerprints(expected_returns(season))
    assert {v["version"] for v in durable.returns} == {1}


def test_without_wait_for_a_release_computes_at_once() -> None:
    season = generate_season(n_people=10, tax_year=2026, seed=4)
    log, durable = Log(), Durable()
    log.release(2026, wait=False)
    log.events(season.events)
    run(durable, log.messages, batch_size=1)
    assert fingerprints(latest(durable.returns)) == fingerprints(expected_returns(season))
    assert max(v["version"] for v in durable.returns) > 1  # every change made a version


def test_replaying_the_whole_season_adds_no_version() -> None:
    season = generate_season(n_people=10, tax_year=2026, seed=4)
    log, durable = Log(), Durable()
    log.events(season.events)
    log.release(2026)
    run(durable, log.messages, batch_size=25)
    before = {p: v["version"] for p, v in latest(durable.returns).items()}
    log.events(season.events)
    log.release(2026)  # a second release (the cut-off after closure, say) is a no-op
    run(durable, log.after(durable.committed), batch_size=25)
    assert {p: v["version"] for p, v in latest(durable.returns).items()} == before


def test_after_release_a_correction_makes_a_new_version_at_once() -> None:
    season = generate_season(n_people=20, tax_year=2026, seed=8)
    log, durable = Log(), Durable()
    log.events(season.events)
    log.release(2026)
    run(durable, log.messages, batch_size=100)
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
    run(durable, log.after(durable.committed), batch_size=100)
    now = latest(durable.returns)[payroll.key]
    assert now["version"] == held["version"] + 1
    assert now["totals"]["gross_income_tiyin"] == held["totals"]["gross_income_tiyin"] + 100_000


def test_a_reused_event_id_is_a_conflict_dead_letter() -> None:
    season = generate_season(n_people=20, tax_year=2026, seed=5)
    payroll = next(e for e in season.events if e.topic_registry == "payroll" and e.fault is None)
    assert payroll.value is not None
    other = dict(payroll.value, data=dict(payroll.value["data"], gross_income_tiyin=7))
    log, durable = Log(), Durable()
    log.events([payroll, Event("payroll", payroll.key, other)])
    run(durable, log.messages, batch_size=10)
    letters = durable.dead_letters
    assert [(d["reason_code"], d["field"]) for d in letters] == [("conflict", "event_id")]
    assert letters[0]["source_topic"] == "registry.payroll.v1"
    assert durable.own_dead_letters == [("payroll", letters[0])]  # the registry's own copy
    event_id = payroll.value["event_id"]
    assert [(r["event_id"], r["status"], r["reason_code"]) for r in durable.receipts] == [
        (event_id, "accepted", None),
        (event_id, "dead_lettered", "conflict"),
    ]


def test_a_reused_revision_names_the_revision_as_the_http_409_does() -> None:
    season = generate_season(n_people=20, tax_year=2026, seed=5)
    payroll = next(e for e in season.events if e.topic_registry == "payroll" and e.fault is None)
    assert payroll.value is not None
    first = payroll.value
    other = dict(
        first,
        event_id=first["event_id"] + "-again",
        data=dict(first["data"], gross_income_tiyin=7),
    )
    log, durable = Log(), Durable()
    log.events([payroll, Event("payroll", payroll.key, other)])
    run(durable, log.messages, batch_size=10)
    [letter] = durable.dead_letters
    assert (letter["reason_code"], letter["field"]) == ("conflict", "revision")
    assert letter["reason"] == revision_conflict(
        first["revision"], first["record_id"], first["event_id"]
    )
    assert "Revision 1 of record" in letter["reason"]
    assert durable.receipts[-1]["status"] == "dead_lettered"
    assert durable.receipts[-1]["field"] == "revision"


def test_receipts_say_accepted_superseded_duplicate_and_refused() -> None:
    season = generate_season(n_people=20, tax_year=2026, seed=7)
    payroll = next(e for e in season.events if e.topic_registry == "payroll" and e.fault is None)
    assert payroll.value is not None
    first = payroll.value
    second = dict(first, event_id=first["event_id"] + "-r2", revision=first["revision"] + 1)
    late = dict(first, event_id=first["event_id"] + "-late")  # the old revision, again
    log, durable = Log(), Durable()
    log.events([payroll, Event("payroll", payroll.key, second)])
    log.events([payroll, Event("payroll", payroll.key, late)])
    partition = int(payroll.key) % PARTITIONS
    log.append("registry.payroll.v1", partition, payroll.key.encode(), b'{"event_id": "bad-1"}')
    run(durable, log.messages, batch_size=3)
    got = [(r["event_id"], r["status"]) for r in durable.receipts]
    assert got == [
        (first["event_id"], "accepted"),
        (second["event_id"], "accepted"),
        (first["event_id"], "superseded"),
        (first["event_id"], "duplicate"),
        (late["event_id"], "superseded"),
        ("bad-1", "dead_lettered"),
    ]
    superseded = durable.receipts[2]
    assert superseded["revision"] == first["revision"]
    assert second["event_id"] in superseded["reason"]
    refused = durable.receipts[-1]
    assert (refused["reason_code"], refused["record_id"]) == ("schema", None)
    for receipt in durable.receipts:  # no personal data: ids, status, reason, time
        # (the registry's own ids may embed whatever it chose; nothing else carries data)
        rest = {k: v for k, v in receipt.items() if k not in ("event_id", "record_id", "reason")}
        assert first["pinfl"] not in json.dumps(rest)
        assert set(receipt) == {
            "event_id",
            "registry",
            "record_id",
            "revision",
            "status",
            "reason_code",
            "field",
            "reason",
            "at",
        }
        assert schema_problem({"receipts": [receipt]}, "registry.payroll.receipts.v1") is None


def test_a_key_that_is_not_the_pinfl_is_refused() -> None:
    season = generate_season(n_people=20, tax_year=2026, seed=6)
    payroll = next(e for e in season.events if e.topic_registry == "payroll" and e.fault is None)
    log, durable = Log(), Durable()
    log.append("registry.payroll.v1", 0, b"someone-else", payroll.payload)
    run(durable, log.messages, batch_size=10)
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
)
def test_crashes_anywhere_lose_nothing_duplicate_nothing_skip_no_version(
    crashes: list[int], batch_size: int, close_after: float, seed: int
) -> None:
    """A worker killed (or fenced) in the middle of any batch, before its transaction
    commits, then restarted from the committed offsets and state: every taxpayer's
    versions run 1..n, each once, and the newest is the oracle's."""
    rng = random.Random(seed)
    log, durable = Log(), Durable()
    split = int(len(SEASON.events) * close_after)
    log.events(SEASON.events[:split])
    log.release(2026)  # the year closes early: late events recompute returns
    log.events(SEASON.events[split:])
    budget = sorted(crashes)
    processed = 0
    while True:
        worker = Worker(durable)
        todo = log.after(durable.committed, rng)
        crashed = False
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            crash_now = bool(budget) and processed + len(batch) >= budget[0]
            processed += len(batch)
            worker.process(batch, crash=crash_now)
            if crash_now:
                budget.pop(0)
                crashed = True
                break
        if not crashed:
            worker.idle()
            break
    assert versions_with_two_contents(durable.returns) == []
    versions: dict[str, list[int]] = {}
    for value in durable.returns:
        versions.setdefault(value["pinfl"], []).append(value["version"])
    for pinfl, numbers in versions.items():
        assert numbers == list(range(1, len(numbers) + 1)), pinfl
    assert fingerprints(latest(durable.returns)) == EXPECTED


@pytest.mark.parametrize("batch_size", [1, 7, 1000])
def test_batch_size_does_not_change_the_result(batch_size: int) -> None:
    log, durable = Log(), Durable()
    log.events(SEASON.events)
    log.release(2026)
    run(durable, log.messages, batch_size=batch_size)
    assert fingerprints(latest(durable.returns)) == EXPECTED


def test_a_release_runs_in_chunks_and_events_during_it_are_computed_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A release computes RELEASE_CHUNK ledgers per batch (one transaction each), in key
    order; an event for a ledger the walk has passed is computed at once, one for a
    ledger ahead of it waits for the walk: the returns end as the oracle's, no version
    number twice, none skipped."""
    monkeypatch.setattr(agents.ingest_batch, "RELEASE_CHUNK", 2)
    season = generate_season(n_people=80, tax_year=2026, seed=3)
    log, durable = Log(), Durable()
    half = len(season.events) // 2
    log.events(season.events[:half])
    log.release(2026)
    first = list(log.messages)
    log.events(season.events[half:])
    late = log.messages[len(first) :]
    worker = Worker(durable)
    worker.process(first)
    batches = 0
    while any(ingest.has_work() for ingest in worker.ingest.values()):
        worker.process(late[batches * 5 : batches * 5 + 5])  # events arrive during the walk
        batches += 1
    assert batches > 3
    worker.process(late[batches * 5 :])
    assert versions_with_two_contents(durable.returns) == []
    numbers: dict[str, list[int]] = {}
    for value in durable.returns:
        numbers.setdefault(value["pinfl"], []).append(value["version"])
    assert all(n == list(range(1, len(n) + 1)) for n in numbers.values())
    assert fingerprints(latest(durable.returns)) == fingerprints(expected_returns(season))


def test_the_ledger_store_is_walked_by_year_prefix() -> None:
    """Ledgers are keyed year first, so a release reads one year's keys, not the store."""
    from agents.ledger import ledger_key, split_ledger_key, year_prefix

    key = ledger_key("12345678901234", 2026)
    assert key.startswith(year_prefix(2026))
    assert split_ledger_key(key) == ("12345678901234", 2026)


def test_a_release_writes_the_published_version_not_the_ledger_again() -> None:
    """Computing a return changes only its small ``published/`` entry: the ledger (every
    record's data) is not written again, and its changelog carries no second copy."""
    from agents.ledger import published_key

    season = generate_season(n_people=20, tax_year=2026, seed=3)
    log, durable = Log(), Durable()
    log.events(season.events)
    worker = Worker(durable)
    worker.process(log.messages)  # everything folded, nothing released yet
    folded = {p: dict(durable.table("ledger", p)) for p in range(PARTITIONS)}
    log.release(2026)
    for partition in range(PARTITIONS):
        ledgers, _ = worker.stores[partition]
        worker.ingest[partition].process(
            [m for m in log.after(durable.committed) if m.partition == partition],
            {t: o for (t, p), o in durable.committed.items() if p == partition},
            ModelOutputs(),
        )
        while worker.ingest[partition].has_work():
            worker.ingest[partition].process([], {}, ModelOutputs())
        written = set(ledgers.writes)
        ledger_keys = {k for k in folded[partition] if k.startswith("2026:")}
        assert ledger_keys, "the partition holds ledgers"
        assert not written & ledger_keys
        assert {k for k in written if k.startswith("published/")} == {
            published_key(k) for k in ledger_keys if ledgers.get(published_key(k))
        }


def test_a_ledger_that_kept_its_last_version_inside_goes_on_numbering() -> None:
    """State written before the published version had a key of its own: the next version
    follows the one the ledger remembers, not 1 again (the projection would skip it)."""
    from agents.ledger import published_key

    season = generate_season(n_people=6, tax_year=2026, seed=9)
    log, durable = Log(), Durable()
    log.events(season.events)
    log.release(2026)
    run(durable, log.messages, batch_size=1000)
    first = latest(durable.returns)
    for partition in range(PARTITIONS):
        table = durable.table("ledger", partition)
        for key in [k for k in table if k.startswith("published/")]:
            ledger_key_ = key.removeprefix("published/")
            published = table.pop(key)
            table[ledger_key_] = dict(
                table[ledger_key_],
                last_version=published["version"] + 4,
                last_fingerprint="an older content",
            )
            assert published_key(ledger_key_) == key
    durable.returns = []
    log.release(2027)  # any message: a correction would do; the walk recomputes nothing
    correction_source = next(
        e for e in season.events if e.topic_registry == "payroll" and e.fault is None
    )
    assert correction_source.value is not None
    fix = dict(
        correction_source.value,
        event_id=correction_source.value["event_id"] + "-fix",
        revision=correction_source.value["revision"] + 10,
    )
    log.events([Event("payroll", correction_source.key, fix)])
    run(durable, log.after(durable.committed), batch_size=1000)
    again = latest(durable.returns)[correction_source.key]
    assert again["version"] == first[correction_source.key]["version"] + 5
