"""The ledger's folding rules: idempotent by event_id, highest revision wins, void withdraws."""

from __future__ import annotations

import itertools
import json

from agents.ledger import FoldResult, active_records, apply_event, empty_ledger
from contracts.registry_events import ValidationPolicy, decode_event

YEARS = ValidationPolicy(range(2023, 2028))
PINFL = "31501901230014"


def event(event_id: str, record_id: str, revision: int, gross: int | None, **extra: object):
    value: dict[str, object] = {
        "event_id": event_id,
        "registry": "payroll",
        "schema_version": 1,
        "record_id": record_id,
        "revision": revision,
        "action": "upsert" if gross is not None else "void",
        "occurred_at": "2026-02-01T10:00:00+05:00",
        "pinfl": PINFL,
        "tax_year": 2026,
    }
    if gross is not None:
        value["data"] = {
            "employer_tin": "200000001",
            "month": 1,
            "gross_income_tiyin": gross,
            "exempt_at_source_tiyin": 0,
            "pit_withheld_tiyin": 0,
            "inps_offset_tiyin": 0,
        }
    value.update(extra)
    return decode_event(json.dumps(value).encode(), "payroll", YEARS)


def grosses(ledger) -> dict[str, int]:
    return {r.record_id: r.data["gross_income_tiyin"] for r in active_records(ledger)}


def test_upsert_then_replay_is_a_duplicate() -> None:
    ledger = empty_ledger()
    assert apply_event(ledger, event("e1", "R1", 1, 100)) is FoldResult.APPLIED
    assert apply_event(ledger, event("e1", "R1", 1, 100)) is FoldResult.DUPLICATE
    assert grosses(ledger) == {"R1": 100}


def test_reused_event_id_with_other_content_is_a_conflict() -> None:
    ledger = empty_ledger()
    apply_event(ledger, event("e1", "R1", 1, 100))
    assert apply_event(ledger, event("e1", "R1", 1, 999)) is FoldResult.CONFLICT
    assert grosses(ledger) == {"R1": 100}


def test_same_revision_with_other_content_is_a_conflict() -> None:
    ledger = empty_ledger()
    apply_event(ledger, event("e1", "R1", 1, 100))
    assert apply_event(ledger, event("e2", "R1", 1, 999)) is FoldResult.CONFLICT
    assert grosses(ledger) == {"R1": 100}


def test_highest_revision_wins_in_every_arrival_order() -> None:
    events = [event("e1", "R1", 1, 100), event("e2", "R1", 2, 200), event("e3", "R1", 3, 300)]
    for order in itertools.permutations(events):
        ledger = empty_ledger()
        for e in order:
            apply_event(ledger, e)
        assert grosses(ledger) == {"R1": 300}


def test_void_withdraws_and_an_older_upsert_after_it_stays_ignored() -> None:
    ledger = empty_ledger()
    apply_event(ledger, event("e1", "R1", 1, 100))
    apply_event(ledger, event("e2", "R2", 1, 50))
    assert apply_event(ledger, event("e3", "R1", 3, None)) is FoldResult.APPLIED
    assert grosses(ledger) == {"R2": 50}
    assert apply_event(ledger, event("e4", "R1", 2, 200)) is FoldResult.STALE
    assert grosses(ledger) == {"R2": 50}
    assert apply_event(ledger, event("e5", "R1", 4, 400)) is FoldResult.APPLIED
    assert grosses(ledger) == {"R1": 400, "R2": 50}


def test_a_record_keeps_only_what_its_key_and_the_events_do_not() -> None:
    ledger = empty_ledger()
    first = event("e1", "r/1", 1, 100)  # a record_id may hold "/": the key splits at the first
    apply_event(ledger, first)
    assert ledger == {
        "records": {
            "payroll/r/1": {"revision": 1, "action": "upsert", "data": first.data, "event_id": "e1"}
        },
        "events": {"payroll:e1": first.content_digest},
    }
    (record,) = active_records(ledger)
    assert (record.registry, record.record_id, record.revision) == ("payroll", "r/1", 1)
    assert record.data == first.data


def test_a_ledger_written_before_folds_and_reads_as_one_written_now() -> None:
    """Records stored before the fifteenth session also held registry, record_id and
    content_digest: RocksDB and the changelogs of a running service still hold them."""
    events = [event("e1", "r1", 1, 100), event("e2", "r2", 1, 200), event("e3", "r1", 2, 150)]
    now = empty_ledger()
    for e in events[:2]:
        apply_event(now, e)
    before = json.loads(json.dumps(now))
    for key, record in before["records"].items():
        registry, record_id = key.split("/", 1)
        digest = before["events"][f"{registry}:{record['event_id']}"]
        record.update(registry=registry, record_id=record_id, content_digest=digest)
    for ledger in (now, before):
        assert apply_event(ledger, events[0]) is FoldResult.DUPLICATE
        assert apply_event(ledger, event("e4", "r2", 1, 999)) is FoldResult.CONFLICT
        assert apply_event(ledger, events[2]) is FoldResult.APPLIED
        assert apply_event(ledger, event("e5", "r1", 1, 100)) is FoldResult.STALE
    assert active_records(before) == active_records(now)
    assert grosses(before) == {"r1": 150, "r2": 200}
