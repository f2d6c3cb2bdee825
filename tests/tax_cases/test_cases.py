"""Runs the YAML tax cases of this folder (format: README.md next to this file)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

import tax
from tax import RecordEvent, RegistryRecord, active_records, compute_return, facts_from_records

HERE = Path(__file__).parent


def _load_cases() -> list[Any]:
    cases = []
    for path in sorted(HERE.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        defaults = document.get("defaults", {})
        for case in document["cases"]:
            merged = {**defaults, **case}
            cases.append(pytest.param(merged, id=f"{path.stem}:{case['id']}"))
    return cases


CASES = _load_cases()


def test_there_are_at_least_sixty_cases() -> None:
    assert len(CASES) >= 60
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"


def _months(spec: Any) -> list[int]:
    months: list[int] = []
    for part in str(spec).split(","):
        low, _, high = part.strip().partition("-")
        months.extend(range(int(low), int(high or low) + 1))
    return months


def _records(case: dict[str, Any]) -> list[RegistryRecord]:
    records = []
    for raw in case.get("records", []):
        revision = raw.get("revision", 1)
        if "months" in raw:
            for month in _months(raw["months"]):
                data = {**raw["data"], "month": month}
                records.append(
                    RegistryRecord(
                        raw["registry"], f"{raw['record_id']}-m{month:02d}", revision, data
                    )
                )
        else:
            records.append(RegistryRecord(raw["registry"], raw["record_id"], revision, raw["data"]))
    events = [
        RecordEvent(e["registry"], e["record_id"], e["revision"], e["action"], e.get("data"))
        for e in case.get("events", [])
    ]
    return records + list(active_records(events))


def _expected_line(item: Any) -> dict[str, Any]:
    if isinstance(item, dict) and "code" in item:
        return item
    ((key, amount),) = item.items()
    code, _, subject = key.partition(" ")
    line = {"code": code, "amount": amount}
    if subject:
        line["subject"] = subject
    return line


def _show(lines: Any) -> str:
    return "\n".join(
        f"  {ln.code} {ln.subject}: {ln.amount_tiyin}  [{ln.legal_reference}]" for ln in lines
    )


@pytest.mark.parametrize("case", CASES)
def test_case(case: dict[str, Any]) -> None:
    expect = case["expect"]
    records = _records(case)
    if "error" in expect:
        _check_error(case, records, expect["error"])
        return
    facts = facts_from_records(case["pinfl"], case["tax_year"], records)
    result = compute_return(facts, tax.load_parameters(), case["tax_year"])
    actual = list(result.lines)

    expected = [_expected_line(item) for item in expect["lines"]]
    summary = [(ln.code, ln.amount_tiyin) for ln in actual]
    wanted = [(e["code"], e["amount"]) for e in expected]
    assert summary == wanted, f"lines differ; actual lines:\n{_show(actual)}"
    for line, exp in zip(actual, expected, strict=True):
        if "subject" in exp:
            assert line.subject == str(exp["subject"]), line
        if "sources" in exp:
            assert [str(s) for s in line.sources] == exp["sources"], line
        if "reference" in exp:
            assert line.legal_reference == exp["reference"], line
    for code in expect.get("unverified", []):
        found = [ln for ln in actual if ln.code == code]
        assert found and all(ln.legal_reference.endswith("(unverified)") for ln in found), code
    for code in expect.get("verified", []):
        found = [ln for ln in actual if ln.code == code]
        assert found and not any("(unverified)" in ln.legal_reference for ln in found), code

    for name, value in expect.get("totals", {}).items():
        assert getattr(result.totals, name) == value, (name, result.totals)
    if "declaration_required" in expect:
        assert result.declaration_required is expect["declaration_required"]
    if "declaration_reasons" in expect:
        assert list(result.declaration_reasons) == expect["declaration_reasons"]
    if "deadlines" in expect:
        deadlines = expect["deadlines"]
        assert result.declaration_deadline == _date(deadlines["declaration"])
        assert result.payment_deadline == _date(deadlines["payment"])
    _check_invariants(result)


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def _check_invariants(result: tax.TaxReturn) -> None:
    t = result.totals
    assert t.gross_income_tiyin == t.exempt_income_tiyin + t.taxable_income_tiyin
    assert t.balance_tiyin == t.tax_computed_tiyin - t.tax_credited_tiyin
    assert t.tax_credited_tiyin == t.tax_withheld_tiyin + t.inps_offset_credited_tiyin
    assert -t.balance_tiyin <= t.tax_withheld_tiyin, "a refund never exceeds tax withheld"
    assert all(ln.amount_tiyin >= 0 for ln in result.lines)
    results = [ln for ln in result.lines if ln.code.startswith("result.")]
    assert len(results) == 1 and results[0].amount_tiyin == abs(t.balance_tiyin)
    assert result.declaration_required == bool(result.declaration_reasons)


def _check_error(case: dict[str, Any], records: list[RegistryRecord], error: Any) -> None:
    error_type = getattr(tax.errors, error["type"])
    with pytest.raises(error_type) as caught:
        facts = facts_from_records(case["pinfl"], case["tax_year"], records)
        compute_return(facts, tax.load_parameters(), case["tax_year"])
    for attribute in ("registry", "record_id", "field", "name"):
        if attribute in error:
            assert getattr(caught.value, attribute) == error[attribute], caught.value
