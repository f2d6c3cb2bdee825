"""Facts from records: validation details the YAML cases do not reach, and the fold."""

from __future__ import annotations

import pytest

from tax import (
    InvalidFact,
    RecordEvent,
    RegistryRecord,
    TaxError,
    active_records,
    compute_return,
    facts_from_records,
    load_parameters,
)
from tests.unit.tax.factories import PINFL, payroll, rental


def test_facts_are_in_a_canonical_order() -> None:
    a, b = payroll("b", 2), payroll("a", 1)
    facts = facts_from_records(PINFL, 2026, [a, b])
    assert [r.record_id for r in facts.records] == ["a", "b"]
    assert [p.month for p in facts.payroll] == [1, 2]


def test_invalid_fact_names_registry_record_and_field() -> None:
    bad = payroll("p-9", month=0)
    with pytest.raises(InvalidFact) as caught:
        facts_from_records(PINFL, 2026, [bad])
    error = caught.value
    assert (error.registry, error.record_id, error.field) == ("payroll", "p-9", "month")
    assert "p-9" in str(error) and "month" in str(error)
    assert isinstance(error, TaxError)


@pytest.mark.parametrize(
    "record",
    [
        RegistryRecord("payroll", "", 1, {}),
        RegistryRecord("payroll", "x" * 65, 1, {}),
        RegistryRecord("payroll", "p", True, {}),  # type: ignore[arg-type]
        RegistryRecord("payroll", "p", 1, ["not", "a", "mapping"]),  # type: ignore[arg-type]
        "not a record",
    ],
)
def test_malformed_envelopes(record: object) -> None:
    with pytest.raises(InvalidFact):
        facts_from_records(PINFL, 2026, [record])  # type: ignore[list-item]


def test_tax_year_must_be_an_integer() -> None:
    with pytest.raises(InvalidFact):
        facts_from_records(PINFL, "2026", [])  # type: ignore[arg-type]


def test_facts_and_year_must_agree() -> None:
    facts = facts_from_records(PINFL, 2026, [rental("l-1")])
    with pytest.raises(TaxError):
        compute_return(facts, load_parameters(), 2025)


def test_active_records_highest_revision_wins_and_void_withdraws() -> None:
    data = {"x": 1}
    events = [
        RecordEvent("payroll", "a", 2, "upsert", {"x": 2}),
        RecordEvent("payroll", "a", 1, "upsert", data),  # stale: arrives late, ignored
        RecordEvent("payroll", "b", 1, "upsert", data),
        RecordEvent("payroll", "b", 2, "void"),
        RecordEvent("rental", "a", 1, "upsert", data),  # same id, other registry
    ]
    active = active_records(events)
    assert [(r.registry, r.record_id, r.revision, dict(r.data)) for r in active] == [
        ("payroll", "a", 2, {"x": 2}),
        ("rental", "a", 1, {"x": 1}),
    ]
    with pytest.raises(ValueError):
        active_records([RecordEvent("payroll", "a", 1, "delete")])


def test_source_ref_reads_like_a_citation() -> None:
    assert str(payroll("p-1", revision=3).source) == "payroll/p-1#3"
