"""The registry agent under faust's ``test_context()`` with the memory table store.

Real agent, real tables, real tax engine; only faust's Kafka producer is replaced, so the
folding rules are checked without a broker. The broker-backed twin of this test is
tests/integration/test_pipeline.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agents import registry_ingest
from contracts.returns_v1 import content_fingerprint
from contracts.topics import DEADLETTER, RETURNS
from proactax.clock import FixedClock
from proactax.settings import Settings
from registries_mock.season import Event, generate_season
from streams.app import create_app
from streams.topology import YEAR_RELEASED, Topology, declare
from tax import load_parameters
from tests.support.oracle import expected_returns
from tests.unit.fake_producer import RecordingProducer

# put() returns once the agent has *taken* a message, not finished it. The agent takes one
# message at a time, so once it takes this last no-op message (a release of year 0, which
# no ledger has) every message before it is fully processed.
FLUSH = (YEAR_RELEASED, b"0", json.dumps({"tax_year": 0, "reason": "flush"}).encode())


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.settings = Settings.from_env({"PROACTAX_RUN_DIR": str(tmp_path)})
        self.app = create_app(self.settings)
        self.topology: Topology = declare(self.app, self.settings)
        self.producer = RecordingProducer()
        self.app.producer = self.producer
        clock = FixedClock(datetime(2027, 2, 1, tzinfo=UTC))
        self.agent = registry_ingest.wire(
            self.app, self.topology, self.settings, clock, load_parameters()
        )

    async def feed(self, messages: Iterable[tuple[str, bytes, bytes]]) -> None:
        """Put (topic, key, value) messages through the agent, one event at a time."""
        async with self.agent.test_context() as wrapper:
            make_message = wrapper.to_message
            for topic, key, value in [*messages, FLUSH]:
                # faust names a multi-topic test channel "<internal>"; give each message
                # the registry topic it would come from.
                def to_message(k: Any, v: Any, _topic: str = topic, **kw: Any) -> Any:
                    message = make_message(k, v, **kw)
                    message.topic = _topic
                    return message

                wrapper.to_message = to_message
                await wrapper.put(value, key=key)

    async def release(self, tax_year: int) -> None:
        """What agents/period_closed.py sends when a year is complete (partition 0 here)."""
        value = json.dumps({"tax_year": tax_year, "reason": "test"}).encode()
        await self.feed([(YEAR_RELEASED, str(tax_year).encode(), value)])

    def returns(self) -> list[dict[str, Any]]:
        return [json.loads(v) for _, v in self.producer.sent[RETURNS]]

    def dead_letters(self) -> list[dict[str, Any]]:
        return [json.loads(v) for _, v in self.producer.sent[DEADLETTER]]


def as_messages(events: Iterable[Event]) -> list[tuple[str, bytes, bytes]]:
    return [
        (f"registry.{e.topic_registry}.v1", e.key.encode(), json.dumps(e.value).encode())
        for e in events
    ]


def latest_by_pinfl(values: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for value in values:
        held = latest.get(value["pinfl"])
        if held is None or value["version"] >= held["version"]:
            latest[value["pinfl"]] = value
    return latest


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


async def test_a_season_with_faults_folds_to_the_oracle(harness: Harness) -> None:
    season = generate_season(n_people=20, tax_year=2026, seed=2)
    await harness.feed(as_messages(season.events))
    assert harness.returns() == []  # the year is not complete yet
    await harness.release(2026)

    expected = {p: content_fingerprint(v) for p, v in expected_returns(season).items()}
    actual = {p: content_fingerprint(v) for p, v in latest_by_pinfl(harness.returns()).items()}
    assert actual == expected
    assert harness.dead_letters() == []


async def test_replaying_the_whole_season_adds_no_version(harness: Harness) -> None:
    season = generate_season(n_people=10, tax_year=2026, seed=4)
    await harness.feed(as_messages(season.events))
    await harness.release(2026)
    before = latest_by_pinfl(harness.returns())
    await harness.feed(as_messages(season.events))
    await harness.release(2026)  # a second release (say the cut-off after closure) is a no-op
    after = latest_by_pinfl(harness.returns())
    assert {p: v["version"] for p, v in after.items()} == {
        p: v["version"] for p, v in before.items()
    }


async def test_after_release_a_correction_makes_a_new_version_at_once(harness: Harness) -> None:
    season = generate_season(n_people=20, tax_year=2026, seed=8)
    await harness.feed(as_messages(season.events))
    await harness.release(2026)
    payroll = next(e for e in season.events if e.topic_registry == "payroll")
    held = latest_by_pinfl(harness.returns())[payroll.key]
    correction = dict(
        payroll.value,
        event_id=payroll.value["event_id"] + "-fix",
        revision=payroll.value["revision"] + 10,
        data=dict(
            payroll.value["data"],
            gross_income_tiyin=payroll.value["data"]["gross_income_tiyin"] + 100_000,
        ),
    )
    await harness.feed(
        [("registry.payroll.v1", payroll.key.encode(), json.dumps(correction).encode())]
    )
    now = latest_by_pinfl(harness.returns())[payroll.key]
    assert now["version"] == held["version"] + 1
    assert now["totals"]["gross_income_tiyin"] == held["totals"]["gross_income_tiyin"] + 100_000


async def test_a_reused_event_id_is_a_conflict_dead_letter(harness: Harness) -> None:
    season = generate_season(n_people=20, tax_year=2026, seed=5)
    payroll = next(e for e in season.events if e.topic_registry == "payroll")
    other = dict(payroll.value, data=dict(payroll.value["data"], gross_income_tiyin=7))
    await harness.feed(
        [
            *as_messages([payroll]),
            ("registry.payroll.v1", payroll.key.encode(), json.dumps(other).encode()),
        ]
    )
    letters = harness.dead_letters()
    assert [(d["reason_code"], d["field"]) for d in letters] == [("conflict", "event_id")]
    assert letters[0]["source_topic"] == "registry.payroll.v1"


async def test_a_key_that_is_not_the_pinfl_is_refused(harness: Harness) -> None:
    season = generate_season(n_people=20, tax_year=2026, seed=6)
    payroll = next(e for e in season.events if e.topic_registry == "payroll")
    await harness.feed(
        [("registry.payroll.v1", b"someone-else", json.dumps(payroll.value).encode())]
    )
    assert [(d["reason_code"], d["field"]) for d in harness.dead_letters()] == [("schema", "key")]
    assert harness.returns() == []
