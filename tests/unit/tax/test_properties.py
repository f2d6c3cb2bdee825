"""Properties of the engine over generated facts (hypothesis)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tax import (
    ParameterSet,
    RegistryRecord,
    TaxReturn,
    compute_return,
    facts_from_records,
    load_parameters,
    parse_parameter_files,
)
from tax.parameters import packaged_parameter_files

PINFL = "31507900123451"
CHILDREN = ("61203150012342", "61507180012343")
TINS = ("201234567", "202345678", "205678901")
MONEY = st.integers(0, 40_000_000_00)
YEARS = st.sampled_from([2023, 2024, 2025, 2026])

# Local settings, not a global profile: other test modules keep their own.
ENGINE = settings(deadline=None, max_examples=150)


def _day(draw: Any, year: int) -> dt.date:
    return dt.date(year, 1, 1) + dt.timedelta(days=draw(st.integers(0, 364)))


@st.composite
def payroll(draw: Any, year: int) -> tuple[str, dict[str, Any]]:
    gross = draw(MONEY)
    return "payroll", {
        "employer_tin": draw(st.sampled_from(TINS)),
        "month": draw(st.integers(1, 12)),
        "gross_income_tiyin": gross,
        "exempt_at_source_tiyin": draw(st.integers(0, gross)),
        "pit_withheld_tiyin": draw(st.integers(0, gross)),
        "inps_offset_tiyin": draw(st.integers(0, gross // 100)),
    }


@st.composite
def rental(draw: Any, year: int) -> tuple[str, dict[str, Any]]:
    kind = draw(st.sampled_from(["individual", "legal_entity"]))
    start = _day(draw, year) - dt.timedelta(days=draw(st.integers(0, 400)))
    end = max(start, dt.date(year, 1, 1)) + dt.timedelta(days=draw(st.integers(0, 500)))
    rent = draw(st.integers(0, 10_000_000_00))
    return "rental", {
        "contract_number": f"N-{draw(st.integers(1, 99))}",
        "tenant_kind": kind,
        "tenant_id": "32001850023456" if kind == "individual" else "207890123",
        "cadastral_number": "10:01:02:0003",
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "monthly_rent_tiyin": rent,
        "pit_withheld_tiyin": 0 if kind == "individual" else draw(st.integers(0, rent * 2)),
    }


@st.composite
def property_sale(draw: Any, year: int) -> tuple[str, dict[str, Any]]:
    sold = _day(draw, year)
    return "property_sale", {
        "cadastral_number": f"10:01:02:{draw(st.integers(0, 9999)):04d}",
        "property_kind": draw(st.sampled_from(["residential", "non_residential", "land"])),
        "sale_date": sold.isoformat(),
        "sale_price_tiyin": draw(st.integers(0, 2_000_000_000_00)),
        "acquisition_date": (sold - dt.timedelta(days=draw(st.integers(0, 3000)))).isoformat(),
        "acquisition_cost_tiyin": draw(st.none() | st.integers(0, 2_000_000_000_00)),
        "cadastral_value_tiyin": draw(st.integers(0, 2_000_000_000_00)),
    }


@st.composite
def dividend(draw: Any, year: int) -> tuple[str, dict[str, Any]]:
    gross = draw(MONEY)
    return "dividend", {
        "payer_tin": draw(st.sampled_from(TINS)),
        "payer_kind": draw(st.sampled_from(["jsc", "llc"])),
        "paid_on": _day(draw, year).isoformat(),
        "gross_tiyin": gross,
        "pit_withheld_tiyin": draw(st.integers(0, gross)),
    }


@st.composite
def deduction(draw: Any, year: int) -> tuple[str, dict[str, Any]]:
    kind = draw(
        st.sampled_from(
            ["tuition", "preschool", "mortgage", "voluntary_pension", "investment_account"]
        )
    )
    own = kind in ("mortgage", "voluntary_pension", "investment_account")
    return "deduction", {
        "kind": kind,
        "provider_tin": "203456789",
        "beneficiary_pinfl": PINFL if own else draw(st.sampled_from(CHILDREN)),
        "paid_on": _day(draw, year).isoformat(),
        "amount_tiyin": draw(st.integers(0, 150_000_000_00)),
    }


@st.composite
def taxpayer_year(draw: Any) -> tuple[int, list[RegistryRecord]]:
    year = draw(YEARS)
    kinds = st.one_of(
        payroll(year), rental(year), property_sale(year), dividend(year), deduction(year)
    )
    drawn = draw(st.lists(kinds, max_size=14))
    records = [
        RegistryRecord(registry, f"r{i}", draw(st.integers(1, 3)), data)
        for i, (registry, data) in enumerate(drawn)
    ]
    return year, records


def _compute(
    year: int, records: list[RegistryRecord], params: ParameterSet | None = None
) -> TaxReturn:
    return compute_return(
        facts_from_records(PINFL, year, records), params or load_parameters(), year
    )


@functools.cache
def _other_parameters() -> ParameterSet:
    """The packaged parameters with one value changed that no rule reads (the BCU)."""
    files = packaged_parameter_files()
    files["indexing.yaml"] = files["indexing.yaml"].replace("{value: 340000}", "{value: 340001}")
    return parse_parameter_files(files)


@ENGINE
@given(taxpayer_year())
def test_no_negative_amounts_and_consistent_totals(case: Any) -> None:
    year, records = case
    result = _compute(year, records)
    assert all(line.amount_tiyin >= 0 for line in result.lines)
    totals = dataclasses.asdict(result.totals)
    assert all(v >= 0 for k, v in totals.items() if k != "balance_tiyin"), totals
    t = result.totals
    assert t.gross_income_tiyin == t.exempt_income_tiyin + t.taxable_income_tiyin
    assert t.balance_tiyin == t.tax_computed_tiyin - t.tax_credited_tiyin
    assert t.tax_credited_tiyin == t.tax_withheld_tiyin + t.inps_offset_credited_tiyin


@ENGINE
@given(taxpayer_year())
def test_a_refund_never_exceeds_the_tax_withheld(case: Any) -> None:
    year, records = case
    result = _compute(year, records)
    assert result.refund_tiyin <= result.totals.tax_withheld_tiyin


@ENGINE
@given(taxpayer_year(), st.data())
def test_an_exempt_use_payment_never_raises_the_tax(case: Any, data: Any) -> None:
    year, records = case
    registry, extra = data.draw(deduction(year))
    before = _compute(year, records)
    after = _compute(year, [*records, RegistryRecord(registry, "extra", 1, extra)])
    assert after.totals.tax_computed_tiyin <= before.totals.tax_computed_tiyin
    assert after.totals.balance_tiyin <= before.totals.balance_tiyin


@ENGINE
@given(taxpayer_year(), st.randoms(use_true_random=False))
def test_the_result_does_not_depend_on_the_order_of_the_facts(case: Any, rnd: Any) -> None:
    year, records = case
    shuffled = list(records)
    rnd.shuffle(shuffled)
    assert _compute(year, shuffled) == _compute(year, records)


@ENGINE
@given(taxpayer_year())
def test_the_hash_is_stable_for_the_same_inputs(case: Any) -> None:
    year, records = case
    copied = [RegistryRecord(r.registry, r.record_id, r.revision, dict(r.data)) for r in records]
    assert (
        _compute(year, copied).reproducibility_hash == _compute(year, records).reproducibility_hash
    )


@ENGINE
@given(taxpayer_year(), st.data())
def test_the_hash_changes_when_an_input_changes(case: Any, data: Any) -> None:
    year, records = case
    if not records:
        return
    index = data.draw(st.integers(0, len(records) - 1))
    record = records[index]
    before = _compute(year, records).reproducibility_hash
    bumped = RegistryRecord(record.registry, record.record_id, record.revision + 1, record.data)
    assert (
        _compute(year, [*records[:index], bumped, *records[index + 1 :]]).reproducibility_hash
        != before
    )
    money = sorted(k for k, v in record.data.items() if k.endswith("_tiyin") and v is not None)
    field = data.draw(st.sampled_from(money))
    changed_data = {**record.data, field: record.data[field] + 1}
    if record.registry == "payroll" and field == "exempt_at_source_tiyin":
        changed_data["gross_income_tiyin"] += 1  # stay valid: exemption <= gross
    if record.registry == "dividend" and field == "pit_withheld_tiyin":
        changed_data["gross_tiyin"] += 1
    if (
        record.registry == "rental"
        and field == "pit_withheld_tiyin"
        and (record.data["tenant_kind"] == "individual")
    ):
        return  # must stay 0 for an individual tenant
    changed = RegistryRecord(record.registry, record.record_id, record.revision, changed_data)
    assert (
        _compute(year, [*records[:index], changed, *records[index + 1 :]]).reproducibility_hash
        != before
    )
    assert _compute(year, records[:index] + records[index + 1 :]).reproducibility_hash != before


@ENGINE
@given(taxpayer_year())
def test_the_hash_and_rules_version_change_with_the_parameters(case: Any) -> None:
    year, records = case
    ours, theirs = _compute(year, records), _compute(year, records, _other_parameters())
    assert ours.lines == theirs.lines and ours.totals == theirs.totals
    assert ours.reproducibility_hash != theirs.reproducibility_hash
    assert ours.rules_version != theirs.rules_version
