"""The lifecycle agent's topic ► handler table: every input topic has its route; each value
is read once into its record; an unusable one is skipped (or, for a decision that names
its id, answered with a refusal) and never stops the batch. Real SQLite, the real machine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.lifecycle import INPUTS, Handler
from contracts import topics
from core.clock import FixedClock
from lifecycle.model import State
from storage.database import make_engine, make_session_factory
from storage.lifecycle.repository import LifecycleRepository
from storage.migrate import upgrade
from tests.unit.lifecycle.factories import RETURN_ID, at, decision, landlord, machine


@pytest.fixture
def handler(tmp_path: Path) -> Handler:
    url = f"sqlite:///{tmp_path / 'lifecycle.db'}"
    upgrade(url)
    repo = LifecycleRepository(make_session_factory(make_engine(url)))
    return Handler(repo, machine(), FixedClock(at("2027-02-02")))


def test_every_input_topic_has_one_route(handler: Handler) -> None:
    assert set(handler.routes) == set(INPUTS)
    assert [t for t, r in handler.routes.items() if r.dead_letters] == [topics.DISPUTE_RESPONSES]


def test_each_topic_is_routed_to_its_handler(handler: Handler) -> None:
    version = json.dumps(landlord()).encode()
    agree = json.dumps(decision("agree")).encode()
    (created, agreed) = handler.batch([(topics.RETURNS, version), (topics.DECISIONS, agree)])
    assert created.outcome.case is not None and agreed.outcome.decision is not None
    case = handler.repository.case_by_id(RETURN_ID)
    assert case is not None and case.state == State.PAYMENT_PENDING


@pytest.mark.parametrize("topic", [t for t in INPUTS if t != topics.DISPUTE_RESPONSES])
@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'{"unexpected": true}'])
def test_an_unusable_value_is_skipped_and_the_batch_goes_on(
    handler: Handler, topic: str, raw: bytes
) -> None:
    version = json.dumps(landlord()).encode()
    (applied,) = handler.batch([(topic, raw), (topics.RETURNS, version)])
    assert applied.outcome.case is not None and applied.outcome.case.return_id == RETURN_ID


def test_a_decision_against_its_schema_that_names_its_id_is_refused(handler: Handler) -> None:
    handler.batch([(topics.RETURNS, json.dumps(landlord()).encode())])
    bad = {**decision("agree"), "channel": "fax"}
    assert handler.batch([(topics.DECISIONS, json.dumps(bad).encode())]) == []
    recorded = handler.repository.decision(bad["decision_id"])
    assert recorded is not None
    assert (recorded.outcome, recorded.reason_code) == ("refused", "bad_request")
    assert "channel" in recorded.reason
