"""Dispute answers cannot vanish (issue 17 item 6): an answer on disputes.responses.v1 to an
unknown dispute_id, or a malformed one, becomes a dead letter with the reason and the field,
keyed as it came; a valid answer is applied. Real SQLite repository, the real machine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.lifecycle import Handler, Rejection, Source
from contracts import topics
from contracts.validation import schema_problem
from core.clock import FixedClock
from lifecycle import ids
from lifecycle.model import State
from storage.database import make_engine, make_session_factory
from storage.lifecycle.repository import LifecycleRepository
from storage.migrate import upgrade
from tests.unit.lifecycle.factories import RETURN_ID, at, decision, landlord, machine, sent

RENT_LINE = {
    "code": "rental.income_individual_tenant",
    "reason_code": "wrong_amount",
    "comment": "",
}


@pytest.fixture
def handler(tmp_path: Path) -> Handler:
    url = f"sqlite:///{tmp_path / 'lifecycle.db'}"
    upgrade(url)
    repo, m = LifecycleRepository(make_session_factory(make_engine(url))), machine()
    repo.apply(lambda c: m.on_version(c, landlord(), at("2027-02-02")), return_id=RETURN_ID)
    first = sent(ids.notice_id("first_notice", RETURN_ID, 1))
    repo.apply(lambda c: m.on_notification(c, first, at("2027-02-02")), return_id=RETURN_ID)
    disagree = decision("disagree", lines=[RENT_LINE])
    repo.apply(lambda c: m.on_decision(c, disagree, at("2027-02-03")), return_id=RETURN_ID)
    return Handler(repo, m, FixedClock(at("2027-02-08")))


def _disputes(handler: Handler) -> list[str]:
    case = handler.repository.case_by_id(RETURN_ID)
    assert case is not None
    return [d.dispute_id for d in case.disputes]


def _answer(dispute_id: str) -> bytes:
    return json.dumps(
        {"dispute_id": dispute_id, "resolution": "confirmed", "comment": "Rent as registered."}
    ).encode()


def test_an_answer_to_a_known_dispute_is_applied_and_nothing_is_dead_lettered(
    handler: Handler,
) -> None:
    (dispute_id,) = _disputes(handler)
    rejected: list[Rejection] = []
    source = Source("t.disputes.responses.v1", 0, 5, b"rental")
    (applied,) = handler.batch([(topics.DISPUTE_RESPONSES, _answer(dispute_id), source)], rejected)
    assert rejected == []
    assert applied.outcome.changed
    case = handler.repository.case_by_id(RETURN_ID)
    assert case is not None and case.state == State.NOTIFIED


@pytest.mark.parametrize(
    ("raw", "reason_code", "field"),
    [
        (_answer("d-unknown"), "out_of_range", "dispute_id"),
        (b"{not json", "not_json", None),
        (b"[1, 2]", "schema", None),
        (
            json.dumps({"dispute_id": "d-1", "resolution": "confirmed"}).encode(),
            "schema",
            "comment",
        ),
        (
            json.dumps({"dispute_id": "d-1", "resolution": "rejected", "comment": ""}).encode(),
            "schema",
            "resolution",
        ),
    ],
)
def test_an_unknown_or_malformed_answer_is_a_dead_letter_with_the_reason(
    handler: Handler, raw: bytes, reason_code: str, field: str | None
) -> None:
    rejected: list[Rejection] = []
    source = Source("t.disputes.responses.v1", 2, 41, b"rental")
    assert handler.batch([(topics.DISPUTE_RESPONSES, raw, source)], rejected) == []
    (letter,) = rejected
    assert letter.key == b"rental"
    value = json.loads(letter.value)
    assert schema_problem(value, topics.DEADLETTER) is None
    assert (value["reason_code"], value["field"]) == (reason_code, field), value["reason"]
    assert (value["source_topic"], value["source_partition"], value["source_offset"]) == (
        "t.disputes.responses.v1",
        2,
        41,
    )
    if reason_code == "out_of_range":
        assert "d-unknown" in value["reason"]
