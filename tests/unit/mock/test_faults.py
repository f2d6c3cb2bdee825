"""Every event of a large faulty season gets exactly the answer the oracle expects from
the service's own validation (``decode_event``, then the tax engine's reader, as the
ingest API does): valid events are accepted, each broken one is refused with its
reason_code and field. Conflicts only the ledger can see; they are checked by the fold."""

from __future__ import annotations

from collections import Counter

import pytest

from contracts.deadletters import REASON_CODES
from contracts.registry_events import EventRejected, decode_event
from contracts.validation import ValidationPolicy
from devtools.registries_mock.faults import CONFLICT, FAULT_KINDS
from devtools.registries_mock.season import Season, generate_season
from tax import RegistryRecord, facts_from_records


def answer(raw: bytes, registry: str, policy: ValidationPolicy) -> tuple[str, str | None] | None:
    """None when accepted, else (reason_code, field): the stream's and the API's verdict."""
    try:
        event = decode_event(raw, registry, policy)
    except EventRejected as rejected:
        return rejected.reason_code, rejected.field
    if event.tax_year is not None and event.data is not None:  # raises on a bad record
        record = RegistryRecord(event.registry, event.record_id, event.revision, event.data)
        facts_from_records(event.pinfl, event.tax_year, [record])
    return None


def test_decode_event_agrees_with_the_oracle_for_every_event(faulty_season: Season) -> None:
    policy = faulty_season.policy
    assert policy is not None
    disagreements = Counter()
    for event in faulty_season.events:
        expected = None
        if event.fault is not None and event.fault is not CONFLICT:
            expected = (event.fault.reason_code, event.fault.field)
        got = answer(event.payload, event.topic_registry, policy)
        if got != expected:
            kind = event.fault.kind if event.fault else "valid"
            disagreements[(kind, got, expected)] += 1
    assert disagreements == Counter()


def test_every_fault_kind_occurs_and_codes_are_the_contracts(faulty_season: Season) -> None:
    kinds = Counter(e.fault.kind for e in faulty_season.events if e.fault)
    assert set(kinds) == set(FAULT_KINDS)
    assert min(kinds.values()) >= 3
    assert {e.fault.reason_code for e in faulty_season.events if e.fault} == REASON_CODES
    broken = sum(kinds.values())
    assert 0.005 < broken / len(faulty_season.events) < 0.03


def test_a_small_faulty_season_still_has_every_kind() -> None:
    season = generate_season(40, 2026, seed=1, faults=True)
    assert {e.fault.kind for e in season.events if e.fault} == set(FAULT_KINDS)


def test_a_conflict_reuses_an_earlier_event_id_with_other_content(faulty_season: Season) -> None:
    first: dict[tuple[str, str], bytes] = {}
    conflicts = 0
    for event in faulty_season.events:
        if event.fault is not None and event.fault is not CONFLICT:
            continue
        assert event.event_id is not None
        identity = (event.topic_registry, event.event_id)
        if event.fault is CONFLICT:
            conflicts += 1
            assert identity in first and first[identity] != event.payload
        else:
            first.setdefault(identity, event.payload)
    assert conflicts > 0


def test_ledger_troubles_are_there(faulty_season: Season) -> None:
    """Corrections, voids, out-of-order revisions and exact redeliveries."""
    seen: dict[tuple[str, str], int] = {}
    late = voids = corrections = 0
    payloads = Counter(e.payload for e in faulty_season.events)
    for event in faulty_season.events:
        if event.fault is not None or event.value is None:
            continue
        value = event.value
        record = (value["registry"], value["record_id"])
        voids += value["action"] == "void"
        corrections += value["revision"] > 1 and value["action"] == "upsert"
        if record in seen and value["revision"] < seen[record]:
            late += 1
        seen[record] = max(seen.get(record, 0), value["revision"])
    assert voids > 10 and corrections > 100 and late > 20
    assert sum(n - 1 for n in payloads.values()) > len(faulty_season.events) * 0.02


def test_the_policy_shapes_the_faults() -> None:
    policy = ValidationPolicy(range(2020, 2027), pinfl_check_digit=False, max_event_bytes=4096)
    season = generate_season(60, 2026, seed=2, faults=True, policy=policy)
    kinds = {e.fault.kind for e in season.events if e.fault}
    assert "bad_pinfl.check_digit" not in kinds and "bad_pinfl.beneficiary" not in kinds
    for event in season.events:
        expected = None
        if event.fault is not None and event.fault is not CONFLICT:
            expected = (event.fault.reason_code, event.fault.field)
        assert answer(event.payload, event.topic_registry, policy) == expected, event.fault
    oversized = [e for e in season.events if e.fault and e.fault.reason_code == "too_large"]
    assert all(4096 < len(e.payload) < 64 * 1024 for e in oversized)


def test_a_tax_year_outside_the_window_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        generate_season(5, 2031, policy=ValidationPolicy(range(2023, 2027)))
    with pytest.raises(ValueError, match="id_prefix"):
        generate_season(5, 2026, id_prefix="has space")
