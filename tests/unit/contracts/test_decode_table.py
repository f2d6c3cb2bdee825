"""Bad registry events and the dead-letter reason and field each one must get.

Every row is one fault in an otherwise valid event (the schema file's own example), so the
expected field is unambiguous. The dead letter built from each rejection must itself be a
valid ``registry.deadletter.v1`` value.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from contracts.deadletters import REASON_CODES, deadletter_value
from contracts.registry_events import (
    EventRejected,
    ValidationPolicy,
    decode_event,
    event_problems,
)
from contracts.validation import validator
from tests.unit.contracts.events import DELETE, OTHER_PINFL, PINFL, POLICY, changed, example, raw

RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE
ZWSP = "\u200b"  # ZERO WIDTH SPACE
ARABIC_PINFL = "".join(chr(0x0660 + int(d)) for d in PINFL)  # ٣١٥٠١٩٠١٢٣٠٠١٤
FULLWIDTH_PINFL = "".join(chr(0xFF10 + int(d)) for d in PINFL)
CEILING = POLICY.money_ceiling_tiyin

# (registry, changes to the example, expected reason_code, expected field)
CASES: list[tuple[str, dict[str, Any], str, str | None]] = [
    # --- PINFL ---
    ("payroll", {"pinfl": "123"}, "bad_pinfl", "pinfl"),
    ("payroll", {"pinfl": "315019012300140"}, "bad_pinfl", "pinfl"),
    ("payroll", {"pinfl": "31501901230015"}, "bad_pinfl", "pinfl"),  # check digit
    ("payroll", {"pinfl": ARABIC_PINFL}, "bad_pinfl", "pinfl"),
    ("payroll", {"pinfl": FULLWIDTH_PINFL}, "bad_pinfl", "pinfl"),
    ("payroll", {"pinfl": PINFL[:7] + ZWSP + PINFL[7:]}, "bad_pinfl", "pinfl"),
    ("payroll", {"pinfl": PINFL + "\n"}, "bad_pinfl", "pinfl"),
    ("payroll", {"pinfl": " " + PINFL[1:]}, "bad_pinfl", "pinfl"),
    ("payroll", {"pinfl": int(PINFL)}, "schema", "pinfl"),
    ("payroll", {"pinfl": DELETE}, "schema", "pinfl"),
    # --- registry, schema_version, ids ---
    ("payroll", {"registry": "tractors"}, "unknown_registry", "registry"),
    ("payroll", {"registry": "Payroll"}, "unknown_registry", "registry"),
    ("payroll", {"registry": "rental"}, "schema", "registry"),
    ("payroll", {"registry": 5}, "schema", "registry"),
    ("payroll", {"registry": DELETE}, "schema", "registry"),
    ("payroll", {"schema_version": 2}, "schema", "schema_version"),
    ("payroll", {"schema_version": 1.0}, "schema", "schema_version"),
    ("payroll", {"schema_version": True}, "schema", "schema_version"),
    ("payroll", {"event_id": "has space"}, "schema", "event_id"),
    ("payroll", {"event_id": ""}, "schema", "event_id"),
    ("payroll", {"event_id": "e" * 65}, "schema", "event_id"),
    ("payroll", {"event_id": "e1" + RLO}, "schema", "event_id"),
    ("payroll", {"event_id": "e1\n"}, "schema", "event_id"),
    ("payroll", {"record_id": ""}, "schema", "record_id"),
    ("payroll", {"record_id": "r" * 65}, "schema", "record_id"),
    ("payroll", {"record_id": "R" + ZWSP + "1"}, "schema", "record_id"),
    ("payroll", {"record_id": "R" + RLO + "1"}, "schema", "record_id"),
    ("payroll", {"record_id": " R1"}, "schema", "record_id"),
    ("payroll", {"record_id": "R1\t"}, "schema", "record_id"),
    # --- revision, action, occurred_at ---
    ("payroll", {"revision": 0}, "out_of_range", "revision"),
    ("payroll", {"revision": -3}, "out_of_range", "revision"),
    ("payroll", {"revision": 2**63}, "out_of_range", "revision"),
    ("payroll", {"revision": True}, "schema", "revision"),
    ("payroll", {"revision": 1.0}, "schema", "revision"),
    ("payroll", {"revision": "1"}, "schema", "revision"),
    ("payroll", {"action": "delete"}, "schema", "action"),
    ("payroll", {"action": "UPSERT"}, "schema", "action"),
    ("payroll", {"occurred_at": "2027-01-14 10:02"}, "schema", "occurred_at"),
    ("payroll", {"occurred_at": "2027-01-14T10:02:11"}, "schema", "occurred_at"),
    ("payroll", {"occurred_at": "2027-01-14"}, "schema", "occurred_at"),
    ("payroll", {"occurred_at": "2027-02-30T10:00:00+05:00"}, "out_of_range", "occurred_at"),
    ("payroll", {"occurred_at": "2027-01-14T25:00:00+05:00"}, "out_of_range", "occurred_at"),
    ("payroll", {"occurred_at": "2027-01-14T10:00:00+24:00"}, "out_of_range", "occurred_at"),
    ("payroll", {"occurred_at": "1899-12-31T10:00:00+05:00"}, "out_of_range", "occurred_at"),
    # --- tax_year ---
    ("payroll", {"tax_year": 1999}, "out_of_range", "tax_year"),
    ("payroll", {"tax_year": 2028}, "out_of_range", "tax_year"),
    ("payroll", {"tax_year": 10**6}, "out_of_range", "tax_year"),
    ("payroll", {"tax_year": "2026"}, "schema", "tax_year"),
    ("payroll", {"tax_year": 2026.0}, "schema", "tax_year"),
    ("payroll", {"tax_year": DELETE}, "schema", "tax_year"),
    ("population", {"tax_year": 2026}, "schema", "tax_year"),
    # --- envelope shape ---
    ("payroll", {"surprise": 1}, "schema", "surprise"),
    ("payroll", {"data": None}, "schema", "data"),
    ("payroll", {"data": []}, "schema", "data"),
    ("payroll", {"data": DELETE}, "schema", "data"),
    # --- payroll data ---
    ("payroll", {"data.extra": 1}, "schema", "data.extra"),
    ("payroll", {"data.month": DELETE}, "schema", "data.month"),
    ("payroll", {"data.month": 13}, "out_of_range", "data.month"),
    ("payroll", {"data.month": 0}, "out_of_range", "data.month"),
    ("payroll", {"data.month": "1"}, "schema", "data.month"),
    ("payroll", {"data.gross_income_tiyin": 1.0}, "schema", "data.gross_income_tiyin"),
    ("payroll", {"data.gross_income_tiyin": 0.5}, "schema", "data.gross_income_tiyin"),
    ("payroll", {"data.gross_income_tiyin": True}, "schema", "data.gross_income_tiyin"),
    ("payroll", {"data.gross_income_tiyin": False}, "schema", "data.gross_income_tiyin"),
    ("payroll", {"data.gross_income_tiyin": "100"}, "schema", "data.gross_income_tiyin"),
    ("payroll", {"data.gross_income_tiyin": None}, "schema", "data.gross_income_tiyin"),
    ("payroll", {"data.gross_income_tiyin": -1}, "out_of_range", "data.gross_income_tiyin"),
    ("payroll", {"data.gross_income_tiyin": CEILING + 1}, "out_of_range",
     "data.gross_income_tiyin"),
    ("payroll", {"data.gross_income_tiyin": 2**63}, "out_of_range", "data.gross_income_tiyin"),
    ("payroll", {"data.gross_income_tiyin": 10**30}, "out_of_range", "data.gross_income_tiyin"),
    ("payroll", {"data.gross_income_tiyin": -(10**30)}, "out_of_range", "data.gross_income_tiyin"),
    ("payroll", {"data.pit_withheld_tiyin": -5}, "out_of_range", "data.pit_withheld_tiyin"),
    ("payroll", {"data.inps_offset_tiyin": -5}, "out_of_range", "data.inps_offset_tiyin"),
    ("payroll", {"data.exempt_at_source_tiyin": 800_000_001}, "out_of_range",
     "data.exempt_at_source_tiyin"),
    ("payroll", {"data.employer_tin": "20123456"}, "schema", "data.employer_tin"),
    ("payroll", {"data.employer_tin": "2012345678"}, "schema", "data.employer_tin"),
    ("payroll", {"data.employer_tin": "20123456\n"}, "schema", "data.employer_tin"),
    ("payroll", {"data.employer_tin": "٢٠١٢٣٤٥٦٧"}, "schema", "data.employer_tin"),
    ("payroll", {"data.employer_tin": 201234567}, "schema", "data.employer_tin"),
    # --- rental ---
    ("rental", {"data.tenant_kind": "individual"}, "bad_pinfl", "data.tenant_id"),  # a TIN
    ("rental", {"data.tenant_kind": "individual", "data.tenant_id": "31501901230015",
                "data.pit_withheld_tiyin": 0}, "bad_pinfl", "data.tenant_id"),
    ("rental", {"data.tenant_id": OTHER_PINFL}, "schema", "data.tenant_id"),  # legal entity
    ("rental", {"data.tenant_kind": "individual", "data.tenant_id": OTHER_PINFL},
     "out_of_range", "data.pit_withheld_tiyin"),
    ("rental", {"data.tenant_kind": "company"}, "schema", "data.tenant_kind"),
    ("rental", {"data.end_date": "2025-12-31"}, "out_of_range", "data.end_date"),
    ("rental", {"data.start_date": "2027-01-01", "data.end_date": "2027-12-31"},
     "out_of_range", "data.start_date"),
    ("rental", {"data.start_date": "2026-06-01", "data.end_date": "2026-05-31"},
     "out_of_range", "data.end_date"),
    ("rental", {"data.start_date": "2026-02-30"}, "out_of_range", "data.start_date"),
    ("rental", {"data.start_date": "1899-12-31"}, "out_of_range", "data.start_date"),
    ("rental", {"data.end_date": "2101-01-01"}, "out_of_range", "data.end_date"),
    ("rental", {"data.start_date": "2026/01/01"}, "schema", "data.start_date"),
    ("rental", {"data.start_date": "2026-1-1"}, "schema", "data.start_date"),
    ("rental", {"data.contract_number": "N-1" + RLO + "2"}, "schema", "data.contract_number"),
    ("rental", {"data.contract_number": " N-1"}, "schema", "data.contract_number"),
    ("rental", {"data.contract_number": ""}, "schema", "data.contract_number"),
    ("rental", {"data.contract_number": "N" * 65}, "schema", "data.contract_number"),
    ("rental", {"data.cadastral_number": "10:08" + ZWSP}, "schema", "data.cadastral_number"),
    ("rental", {"data.monthly_rent_tiyin": 5e8}, "schema", "data.monthly_rent_tiyin"),
    # --- property sale ---
    ("property_sale", {"data.sale_date": "2025-12-31"}, "out_of_range", "data.sale_date"),
    ("property_sale", {"data.acquisition_date": "2026-07-01"}, "out_of_range",
     "data.acquisition_date"),
    ("property_sale", {"data.acquisition_cost_tiyin": -1}, "out_of_range",
     "data.acquisition_cost_tiyin"),
    ("property_sale", {"data.acquisition_cost_tiyin": "n/a"}, "schema",
     "data.acquisition_cost_tiyin"),
    ("property_sale", {"data.acquisition_cost_tiyin": DELETE}, "schema",
     "data.acquisition_cost_tiyin"),
    ("property_sale", {"data.property_kind": "castle"}, "schema", "data.property_kind"),
    # --- dividend ---
    ("dividend", {"data.paid_on": "2025-12-31"}, "out_of_range", "data.paid_on"),
    ("dividend", {"data.paid_on": "2026-13-01"}, "out_of_range", "data.paid_on"),
    ("dividend", {"data.pit_withheld_tiyin": 1_000_000_001}, "out_of_range",
     "data.pit_withheld_tiyin"),
    ("dividend", {"data.payer_kind": "plc"}, "schema", "data.payer_kind"),
    # --- deduction ---
    ("deduction", {"data.kind": "mortgage"}, "bad_pinfl", "data.beneficiary_pinfl"),
    ("deduction", {"data.beneficiary_pinfl": "50109061230026"}, "bad_pinfl",
     "data.beneficiary_pinfl"),
    ("deduction", {"data.beneficiary_pinfl": "5010906123002"}, "bad_pinfl",
     "data.beneficiary_pinfl"),
    ("deduction", {"data.kind": "gym"}, "schema", "data.kind"),
    ("deduction", {"data.paid_on": "2027-01-01"}, "out_of_range", "data.paid_on"),
    ("deduction", {"data.provider_tin": "abcdefghi"}, "schema", "data.provider_tin"),
    # --- population ---
    ("population", {"data.birth_date": "1899-12-31"}, "out_of_range", "data.birth_date"),
    ("population", {"data.birth_date": "2028-01-01"}, "out_of_range", "data.birth_date"),
    ("population", {"data.birth_date": "1987-02-29"}, "out_of_range", "data.birth_date"),
    ("population", {"data.sex": "X"}, "schema", "data.sex"),
    ("population", {"data.sex": "m"}, "schema", "data.sex"),
    ("population", {"data.region_code": "XYZ"}, "schema", "data.region_code"),
    ("population", {"data.phone": "998901234567"}, "schema", "data.phone"),
    ("population", {"data.phone": "+٩٩٨٩٠١٢٣٤٥٦٧"}, "schema", "data.phone"),
    ("population", {"data.phone": "+998 90 123 45 67"}, "schema", "data.phone"),
    ("population", {"data.full_name": RLO + "Aziz Karimov"}, "schema", "data.full_name"),
    ("population", {"data.full_name": "Aziz" + ZWSP + "Karimov"}, "schema", "data.full_name"),
    ("population", {"data.full_name": "Aziz\u0000Karimov"}, "schema", "data.full_name"),
    ("population", {"data.full_name": ""}, "schema", "data.full_name"),
    ("population", {"data.full_name": "   "}, "schema", "data.full_name"),
    ("population", {"data.full_name": "A" * 201}, "schema", "data.full_name"),
    ("population", {"data.preferred_language": "uz"}, "schema", "data.preferred_language"),
    ("population", {"pinfl": "41503871230016"}, "bad_pinfl", "pinfl"),
    # --- several faults: the first in contract order wins ---
    ("payroll", {"pinfl": "123", "data.month": 13, "surprise": 1}, "bad_pinfl", "pinfl"),
    ("payroll", {"revision": 0, "data.month": "x"}, "out_of_range", "revision"),
    ("payroll", {"data.month": 13, "data.employer_tin": "1"}, "schema", "data.employer_tin"),
    ("payroll", {"tax_year": 1999, "data.month": "x"}, "schema", "data.month"),
    ("payroll", {"zzz": 1, "aaa": 2}, "schema", "aaa"),
]  # fmt: skip


def _verdict(raw_value: bytes | None, registry: str = "payroll", policy: Any = POLICY) -> Any:
    try:
        decode_event(raw_value, registry, policy)
    except EventRejected as rejected:
        return rejected
    return None


def _assert_dead_letter_valid(rejected: EventRejected, raw_value: bytes | None) -> None:
    value = json.loads(
        deadletter_value(
            source_topic="registry.payroll.v1",
            source_partition=1,
            source_offset=7,
            received_at="2027-01-14T10:02:12+05:00",
            reason_code=rejected.reason_code,
            reason=rejected.reason,
            field=rejected.field,
            raw=raw_value,
        )
    )
    assert [e.message for e in validator("registry.deadletter.v1").iter_errors(value)] == []


@pytest.mark.parametrize(
    ("registry", "changes", "reason_code", "field"),
    CASES,
    ids=[f"{c[0]}:{'+'.join(c[1])}->{c[2]}" for c in CASES],
)
def test_a_bad_event_gets_its_reason_and_field(
    registry: str, changes: dict[str, Any], reason_code: str, field: str | None
) -> None:
    value = raw(changed(registry, changes))
    rejected = _verdict(value, registry)
    assert rejected is not None, "accepted"
    assert (rejected.reason_code, rejected.field) == (reason_code, field), rejected.reason
    assert rejected.reason.endswith(".") and len(rejected.reason) > 15
    if field is not None:
        assert rejected.reason.startswith(field) or field in rejected.reason
    _assert_dead_letter_valid(rejected, value)
    again = _verdict(value, registry)  # deterministic: same bytes, same verdict
    assert (again.reason_code, again.field, again.reason) == (
        rejected.reason_code,
        rejected.field,
        rejected.reason,
    )


def _payroll_text() -> str:
    return json.dumps(example("payroll"))


def _with_month(literal: str) -> bytes:
    """The payroll example with ``literal`` (raw JSON text) as the month."""
    return _payroll_text().replace('"month": 1', f'"month": {literal}').encode()


# (raw bytes, expected reason_code, expected field)
RAW_CASES: list[tuple[str, bytes | None, str, str | None]] = [
    ("no value", None, "schema", None),
    ("empty", b"", "not_json", None),
    ("not utf-8", b"\xff\xfe{}", "not_json", None),
    ("latin-1", _payroll_text().replace("PAY-", "\u00c9-").encode("latin-1"), "not_json", None),
    ("BOM", b"\xef\xbb\xbf" + _payroll_text().encode(), "not_json", None),
    ("truncated", _payroll_text().encode()[:-1], "not_json", None),
    ("trailing garbage", _payroll_text().encode() + b"x", "not_json", None),
    ("two objects", _payroll_text().encode() * 2, "not_json", None),
    ("NaN", _payroll_text().replace("800000000", "NaN", 1).encode(), "not_json", None),
    ("Infinity", _payroll_text().replace("800000000", "Infinity", 1).encode(), "not_json", None),
    ("-Infinity", _payroll_text().replace("800000000", "-Infinity", 1).encode(), "not_json", None),
    ("exponent", _payroll_text().replace("800000000", "8e8", 1).encode(), "schema",
     "data.gross_income_tiyin"),
    ("1.0", _with_month("1.0"), "schema", "data.month"),
    ("huge literal", _payroll_text().replace("800000000", "9" * 5000, 1).encode(), "out_of_range",
     "data.gross_income_tiyin"),
    ("huge negative", _payroll_text().replace("800000000", "-" + "9" * 5000, 1).encode(),
     "out_of_range", "data.gross_income_tiyin"),
    ("huge float", _payroll_text().replace("800000000", "1e999", 1).encode(), "schema",
     "data.gross_income_tiyin"),
    ("null", b"null", "schema", None),
    ("array", b"[]", "schema", None),
    ("string", b'"payroll"', "schema", None),
    ("number", b"42", "schema", None),
    ("duplicate envelope key", _payroll_text().replace('"revision": 1', '"revision": 1, '
     '"revision": 2').encode(), "schema", "revision"),
    ("duplicate data key", _with_month('1, "month": 1'), "schema", "data.month"),
    ("lone surrogate", _payroll_text().replace('"PAY-', '"\\ud800PAY-', 1).encode(), "not_json",
     "record_id"),
    ("lone surrogate key", b'{"\\udfff": 1}', "not_json", None),
    ("deep nesting", _with_month("[" * 10 + "]" * 10), "schema", None),
    ("very deep nesting", b"[" * 70_000 + b"]" * 70_000, "too_large", None),
    ("deep within the limit", b"[" * 30_000, "schema", None),
    ("deep objects", b'{"a":' * 5_000 + b"1" + b"}" * 5_000, "schema", None),
    ("many values", _with_month("[" + ",".join(["0"] * 2000) + "]"), "schema", None),
    ("1 MB", b'{"pad": "' + b"x" * 1_048_576 + b'"}', "too_large", None),
    ("1 MB of spaces", b" " * 1_048_576, "too_large", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("raw_value", "reason_code", "field"),
    [c[1:] for c in RAW_CASES],
    ids=[c[0] for c in RAW_CASES],
)
def test_bad_bytes_get_their_reason(
    raw_value: bytes | None, reason_code: str, field: str | None
) -> None:
    rejected = _verdict(raw_value)
    assert rejected is not None, "accepted"
    assert (rejected.reason_code, rejected.field) == (reason_code, field), rejected.reason
    assert rejected.reason_code in REASON_CODES
    _assert_dead_letter_valid(rejected, raw_value)


def test_the_size_limit_is_the_policy_s_and_counts_bytes() -> None:
    value = raw(example("payroll"))
    padded = value + b" " * (POLICY.max_event_bytes - len(value))
    assert len(padded) == POLICY.max_event_bytes
    assert _verdict(padded) is None
    assert _verdict(padded + b" ").reason_code == "too_large"
    small = dataclasses.replace(POLICY, max_event_bytes=len(value) - 1)
    assert _verdict(value, policy=small).reason_code == "too_large"


def test_the_check_digit_can_be_switched_off() -> None:
    value = raw(changed("deduction", {"pinfl": "31501901230015"}))
    assert _verdict(value, "deduction").reason_code == "bad_pinfl"
    lax = dataclasses.replace(POLICY, pinfl_check_digit=False)
    assert _verdict(value, "deduction", lax) is None
    not_digits = raw(changed("deduction", {"pinfl": "3150190123001X"}))
    assert _verdict(not_digits, "deduction", lax).reason_code == "bad_pinfl"


def test_the_money_ceiling_is_the_policy_s() -> None:
    value = raw(changed("payroll", {"data.gross_income_tiyin": 10**12}))
    assert _verdict(value) is None
    low = dataclasses.replace(POLICY, money_ceiling_tiyin=10**11)
    rejected = _verdict(value, policy=low)
    assert (rejected.reason_code, rejected.field) == ("out_of_range", "data.gross_income_tiyin")
    assert str(10**11) in rejected.reason


def test_every_money_field_over_the_ceiling_is_listed_also_beside_a_mistyped_one() -> None:
    """``event_problems`` (the HTTP API's 422) names each money field over the ceiling; a
    mistyped money field gets its schema problem and does not hide the others'."""
    low = dataclasses.replace(POLICY, money_ceiling_tiyin=10**11)
    both = raw(
        changed(
            "payroll",
            {"data.gross_income_tiyin": 10**12, "data.pit_withheld_tiyin": 10**12},
        )
    )
    fields = [p.field for p in event_problems(both, "payroll", low)]
    assert fields == ["data.gross_income_tiyin", "data.pit_withheld_tiyin"]
    mistyped = raw(
        changed(
            "payroll",
            {"data.gross_income_tiyin": "many", "data.pit_withheld_tiyin": 10**12},
        )
    )
    problems = [(p.reason_code, p.field) for p in event_problems(mistyped, "payroll", low)]
    assert ("schema", "data.gross_income_tiyin") in problems
    assert ("out_of_range", "data.pit_withheld_tiyin") in problems


def test_the_tax_year_window_is_the_policy_s() -> None:
    value = raw(example("payroll"))
    assert _verdict(value, policy=ValidationPolicy(range(2026, 2027))) is None
    rejected = _verdict(value, policy=ValidationPolicy(range(2027, 2029)))
    assert (rejected.reason_code, rejected.field) == ("out_of_range", "tax_year")
    assert "2027-2028" in rejected.reason


@pytest.mark.parametrize(
    ("registry", "changes"),
    [
        ("population", {"data.full_name": "Азиз Каримов"}),
        ("population", {"data.full_name": "Oʻgʻiloy Toʻxtayeva"}),
        ("population", {"data.full_name": "Gulnora O'ktamova-Saidova"}),
        ("population", {"data.birth_date": "2000-02-29"}),
        ("population", {"action": "void", "data": DELETE}),
        ("payroll", {"occurred_at": "2016-12-31T23:59:60Z"}),  # a leap second
        ("payroll", {"occurred_at": "2027-01-14T10:02:11.123456789-03:30"}),
        ("payroll", {"data.gross_income_tiyin": 0, "data.pit_withheld_tiyin": 0,
                     "data.inps_offset_tiyin": 0}),
        ("payroll", {"data.gross_income_tiyin": CEILING}),
        ("payroll", {"data.exempt_at_source_tiyin": 800_000_000}),
        ("rental", {"data.start_date": "2020-01-01", "data.end_date": "2030-12-31"}),
        ("rental", {"data.tenant_kind": "individual", "data.tenant_id": OTHER_PINFL,
                    "data.pit_withheld_tiyin": 0}),
        ("rental", {"data.contract_number": "№ 12/А-2026"}),
        ("property_sale", {"data.acquisition_cost_tiyin": None}),
        ("property_sale", {"data.acquisition_date": "2026-06-20"}),
        ("deduction", {"data.kind": "mortgage", "data.beneficiary_pinfl": PINFL}),
        ("deduction", {"data.kind": "preschool"}),
    ],
)  # fmt: skip
def test_unusual_but_valid_events_are_accepted(registry: str, changes: dict[str, Any]) -> None:
    rejected = _verdict(raw(changed(registry, changes)), registry)
    assert rejected is None, repr(rejected)


def test_the_topic_decides_the_schema_and_an_unknown_topic_is_rejected() -> None:
    value = raw(example("payroll"))
    assert _verdict(value, "payroll") is None
    assert (_verdict(value, "dividend").reason_code, _verdict(value, "dividend").field) == (
        "schema",
        "registry",
    )
    assert _verdict(value, "tractors").reason_code == "unknown_registry"


def test_a_bare_range_still_works_as_the_policy() -> None:
    decoded = decode_event(raw(example("payroll")), "payroll", ValidationPolicy(range(2023, 2028)))
    assert decoded.tax_year == 2026


def test_the_decoded_event_carries_the_contract_fields() -> None:
    value = example("rental")
    decoded = decode_event(raw(value), "rental", POLICY)
    assert decoded.event_id == value["event_id"]
    assert decoded.record_id == value["record_id"]
    assert (decoded.revision, decoded.action, decoded.pinfl) == (1, "upsert", value["pinfl"])
    assert decoded.tax_year == 2026
    assert decoded.data == value["data"]
    key_order = raw(dict(reversed(list(value.items()))))
    assert decode_event(key_order, "rental", POLICY).content_digest == decoded.content_digest


SENTENCES: list[tuple[str, bytes, tuple[str, str, str | None]]] = [
    ("deep", b"[" * 5000, ("schema", "The JSON nests deeper than 8 levels.", None)),
    ("duplicate", _payroll_text().replace('"revision": 1', '"revision": 1, "revision": 2')
     .encode(), ("schema", "revision occurs twice in one object; every key must be unique.",
                 "revision")),
    ("NaN", _payroll_text().replace("800000000", "NaN", 1).encode(),
     ("not_json", "The value is not valid JSON: NaN is not a JSON number.", None)),
    ("UTF-8", b"\xff{}", ("not_json", "The value is not valid UTF-8 (byte 0).", None)),
    ("size", b" " * 70_000,
     ("too_large", "The event is 70000 bytes; at most 65536 are accepted.", None)),
    ("8 levels are read", _with_month("[" * 6 + "]" * 6),
     ("schema", "data.month must be an integer (a whole number without a decimal point or "
      "exponent); got an array.", "data.month")),
    ("9 are not", _with_month("[" * 7 + "]" * 7),
     ("schema", "The JSON nests deeper than 8 levels.", None)),
    ("values", _with_month("[" + ",".join(["0"] * 2000) + "]"),
     ("schema", "The JSON holds more than 1024 values.", None)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "answer"), [c[1:] for c in SENTENCES], ids=[c[0] for c in SENTENCES]
)
def test_the_strict_readers_sentences(raw: bytes, answer: tuple[str, str, str | None]) -> None:
    """The sentences of the strict reader, pinned (the typed path must leave them as they were)."""
    rejected = _verdict(raw)
    assert (rejected.reason_code, rejected.reason, rejected.field) == answer
