"""Facts from records: validation details the YAML cases do not reach, and the fold."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
from tax.facts import payroll_at_once, payroll_by_field
from tests.unit.tax.factories import PINFL, payroll, rental, salary_year


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


# Values at and beside each bound the field-by-field reader checks, and of every wrong type.
_ODD_VALUES = [-1, 0, 1, 12, 13, 10**15, True, False, None, 1.0, "1", "", " "]
_ODD_VALUES += ["201234567", "20123456", "2012345678", "20123456a", "٢٠١٢٣٤٥٦٧", "201234567\n"]
_DROP = "<drop>"
_PAYROLL_KEYS = sorted(payroll("any").data)  # every field of a payroll record


def _read_both_ways(changes: dict[str, object], exempt: int = 5) -> None:
    """``payroll_at_once`` may only accept what ``payroll_by_field`` accepts, as the same
    fact; anything else it leaves to the reader that names the wrong field."""
    data = dict(payroll("p-1", exempt_at_source_tiyin=exempt).data)
    for key, value in changes.items():
        if value == _DROP:
            data.pop(key, None)
        else:
            data[key] = value
    record = RegistryRecord("payroll", "p-1", 1, data)
    at_once = payroll_at_once(data, record.source)
    try:
        by_field = payroll_by_field(record, PINFL, 2026)
    except InvalidFact:
        assert at_once is None, changes
    else:
        assert at_once is None or at_once == by_field, changes


@pytest.mark.parametrize("exempt", [0, 5])
@pytest.mark.parametrize("key", [*_PAYROLL_KEYS, "extra"])
def test_one_payroll_field_changed_reads_the_same_at_once_and_field_by_field(
    key: str, exempt: int
) -> None:
    for value in [*_ODD_VALUES, _DROP]:
        _read_both_ways({key: value}, exempt)


@given(
    changes=st.dictionaries(
        st.sampled_from([*_PAYROLL_KEYS, "extra"]),
        st.one_of(st.sampled_from([*_ODD_VALUES, _DROP]), st.integers(-3, 10**15)),
        max_size=3,
    )
)
@settings(max_examples=300, deadline=None)
def test_payroll_fields_changed_together_read_the_same_at_once_and_field_by_field(
    changes: dict[str, object],
) -> None:
    _read_both_ways(changes)


def test_a_valid_payroll_record_is_read_at_once() -> None:
    for record in salary_year():
        assert payroll_at_once(record.data, record.source) == payroll_by_field(record, PINFL, 2026)
