"""The returns.v1 value has exactly the contract's shape (CONTRACT.md "Returns")."""

from __future__ import annotations

import json
import re

from contracts.returns_v1 import content_fingerprint, to_returns_v1
from tax import compute_return, facts_from_records, load_parameters
from tests.unit.tax.factories import PINFL, deduction, rental, salary_year

CONTRACT_KEYS = {
    "return_id",
    "pinfl",
    "tax_year",
    "version",
    "computed_at",
    "rules_version",
    "reproducibility_hash",
    "declaration_required",
    "totals",
    "deadlines",
    "lines",
}
CONTRACT_TOTALS = {
    "gross_income_tiyin",
    "exempt_income_tiyin",
    "taxable_income_tiyin",
    "tax_computed_tiyin",
    "tax_credited_tiyin",
    "balance_tiyin",
}
CONTRACT_LINE = {"code", "amount_tiyin", "legal_reference", "sources"}


def _value(records: list, **kwargs: object) -> dict:
    tax_return = compute_return(facts_from_records(PINFL, 2026, records), load_parameters(), 2026)
    options = {"return_id": "r-1", "version": 1, "computed_at": "2027-02-01T09:00:00+05:00"}
    return to_returns_v1(tax_return, **{**options, **kwargs})  # type: ignore[arg-type]


def test_contract_fields_are_all_there_with_their_types() -> None:
    value = _value([*salary_year(), deduction("t-1"), rental("l-1")])
    assert CONTRACT_KEYS <= set(value)
    assert value["pinfl"] == PINFL and value["tax_year"] == 2026 and value["version"] == 1
    assert isinstance(value["declaration_required"], bool)
    assert re.fullmatch(r"[0-9a-f]{64}", value["reproducibility_hash"])
    assert CONTRACT_TOTALS <= set(value["totals"])
    assert all(isinstance(value["totals"][k], int) for k in CONTRACT_TOTALS)
    assert value["deadlines"] == {"declaration": "2027-04-01", "payment": "2027-06-01"}
    for line in value["lines"]:
        assert CONTRACT_LINE <= set(line)
        assert isinstance(line["amount_tiyin"], int) and line["amount_tiyin"] >= 0
        for source in line["sources"]:
            assert set(source) == {"registry", "record_id", "revision"}
    json.dumps(value, allow_nan=False)  # JSON as it is


def test_balance_sign_convention() -> None:
    refund = _value([*salary_year(), deduction("t-1")])
    assert refund["totals"]["balance_tiyin"] == -1_800_000_00
    payable = _value([rental("l-1")])
    assert payable["totals"]["balance_tiyin"] == 7_200_000_00
    assert payable["declaration_required"] is True


def test_fingerprint_ignores_only_identity_and_time() -> None:
    records = [*salary_year(), deduction("t-1")]
    base = _value(records)
    same = _value(records, return_id="r-2", version=7, computed_at="2027-03-01T00:00:00+05:00")
    assert content_fingerprint(base) == content_fingerprint(same)
    changed = _value([*salary_year(), deduction("t-1", amount=15_000_000_01)])
    assert content_fingerprint(changed) != content_fingerprint(base)
    revised = _value([*salary_year(), deduction("t-1", revision=2)])
    assert content_fingerprint(revised) != content_fingerprint(base)
