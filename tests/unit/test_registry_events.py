"""First-line validation of registry events: each bad event names its reason and field."""

from __future__ import annotations

import json

import pytest

from contracts.registry_events import EventRejected, ValidationPolicy, decode_event

YEARS = ValidationPolicy(range(2023, 2028))


def good() -> dict[str, object]:
    return {
        "event_id": "pay-1",
        "registry": "payroll",
        "schema_version": 1,
        "record_id": "R1",
        "revision": 1,
        "action": "upsert",
        "occurred_at": "2027-01-14T10:02:11+05:00",
        "pinfl": "31501901230014",
        "tax_year": 2026,
        "data": {
            "employer_tin": "201234567",
            "month": 1,
            "gross_income_tiyin": 800_000_000,
            "exempt_at_source_tiyin": 0,
            "pit_withheld_tiyin": 95_200_000,
            "inps_offset_tiyin": 800_000,
        },
    }


def test_a_good_event_decodes() -> None:
    decoded = decode_event(json.dumps(good()).encode(), "payroll", YEARS)
    assert (decoded.registry, decoded.record_id, decoded.revision) == ("payroll", "R1", 1)
    assert len(decoded.content_digest) == 64


@pytest.mark.parametrize(
    ("change", "reason_code", "field"),
    [
        ({"pinfl": "123"}, "bad_pinfl", "pinfl"),
        ({"registry": "tractors"}, "unknown_registry", "registry"),
        ({"registry": "rental"}, "schema", "registry"),
        ({"tax_year": 1999}, "out_of_range", "tax_year"),
        ({"revision": 0}, "out_of_range", "revision"),
        ({"revision": True}, "schema", "revision"),
        ({"action": "delete"}, "schema", "action"),
        ({"occurred_at": "2027-01-14 10:02"}, "schema", "occurred_at"),
        ({"event_id": "has space"}, "schema", "event_id"),
        ({"surprise": 1}, "schema", "surprise"),
        ({"data": None}, "schema", "data"),
    ],
)
def test_bad_fields_are_named(change: dict[str, object], reason_code: str, field: str) -> None:
    value = good() | change
    with pytest.raises(EventRejected) as caught:
        decode_event(json.dumps(value).encode(), "payroll", YEARS)
    assert (caught.value.reason_code, caught.value.field) == (reason_code, field)


def test_not_json_and_too_large() -> None:
    with pytest.raises(EventRejected) as caught:
        decode_event(b"\xff{", "payroll", YEARS)
    assert caught.value.reason_code == "not_json"
    with pytest.raises(EventRejected) as caught:
        decode_event(b" " * 70_000, "payroll", YEARS)
    assert caught.value.reason_code == "too_large"


def test_a_void_carries_no_data() -> None:
    value = good() | {"action": "void"}
    with pytest.raises(EventRejected) as caught:
        decode_event(json.dumps(value).encode(), "payroll", YEARS)
    assert caught.value.field == "data"
    del value["data"]
    assert decode_event(json.dumps(value).encode(), "payroll", YEARS).data is None
