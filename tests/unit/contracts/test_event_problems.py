"""``event_problems``: every problem of one event (the HTTP API's 422), the first being the one
``decode_event`` dead-letters with on the Kafka path."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from contracts.registry_events import EventRejected, decode_event, event_problems
from tests.unit.contracts.events import DELETE, POLICY, changed
from tests.unit.contracts.test_properties import FUZZ, json_values, mutated_events, plausible


def _listed(value: Any, registry: str = "payroll") -> list[tuple[str, str | None]]:
    raw = json.dumps(value).encode()
    return [(p.reason_code, p.field) for p in event_problems(raw, registry, POLICY)]


def test_four_problems_of_one_event_come_in_one_answer() -> None:
    value = changed(
        "payroll",
        {
            "pinfl": "31501901230015",  # check digit
            "tax_year": 2020,  # outside the window
            "data.month": 13,
            "data.gross_income_tiyin": 10**16,  # over the ceiling
            "data.surprise": 1,
        },
    )
    assert _listed(value) == [  # schema problems in contract order, then value rules
        ("out_of_range", "data.month"),
        ("schema", "data.surprise"),
        ("bad_pinfl", "pinfl"),
        ("out_of_range", "tax_year"),
        ("out_of_range", "data.gross_income_tiyin"),
    ]
    problems = event_problems(json.dumps(value).encode(), "payroll", POLICY)
    assert {(p.reason_code, p.field) for p in problems} == {
        ("bad_pinfl", "pinfl"),
        ("out_of_range", "tax_year"),
        ("out_of_range", "data.month"),
        ("schema", "data.surprise"),
        ("out_of_range", "data.gross_income_tiyin"),
    }
    assert all(p.reason.endswith(".") for p in problems)
    try:
        decode_event(json.dumps(value).encode(), "payroll", POLICY)
    except EventRejected as rejected:
        assert (rejected.reason_code, rejected.field, rejected.reason) == (
            problems[0].reason_code,
            problems[0].field,
            problems[0].reason,
        )


def test_schema_problems_first_then_value_rules_one_per_field() -> None:
    value = changed("payroll", {"tax_year": 1800, "data.month": 0, "pinfl": "31501901230015"})
    assert _listed(value) == [
        ("out_of_range", "tax_year"),  # schema minimum 1900; the window says it again: once
        ("out_of_range", "data.month"),
        ("bad_pinfl", "pinfl"),
    ]


def test_a_rule_that_cannot_read_its_field_is_left_to_the_schema_problem() -> None:
    value = changed(
        "payroll",
        {"data.gross_income_tiyin": "100", "data.exempt_at_source_tiyin": DELETE, "tax_year": 2020},
    )
    assert _listed(value) == [
        ("schema", "data.gross_income_tiyin"),
        ("schema", "data.exempt_at_source_tiyin"),
        ("out_of_range", "tax_year"),
    ]


def test_a_problem_that_stops_reading_comes_alone() -> None:
    assert [(p.reason_code, p.field) for p in event_problems(b"[[", "payroll", POLICY)] == [
        ("not_json", None)
    ]
    assert [p.reason_code for p in event_problems(b"[" * 5000, "payroll", POLICY)] == ["schema"]
    big = b" " * (POLICY.max_event_bytes + 1)
    assert [p.reason_code for p in event_problems(big, "payroll", POLICY)] == ["too_large"]
    assert event_problems(json.dumps(changed("payroll", {})).encode(), "payroll", POLICY) == []


@FUZZ
@given(mutated_events(st.one_of(plausible, json_values)))
def test_the_first_problem_is_the_dead_letters(case: Any) -> None:
    registry, value = case
    raw = json.dumps(value).encode()
    problems = event_problems(raw, registry, POLICY)
    try:
        decode_event(raw, registry, POLICY)
    except EventRejected as rejected:
        assert problems, rejected
        first = problems[0]
        assert (first.reason_code, first.field, first.reason) == (
            rejected.reason_code,
            rejected.field,
            rejected.reason,
        )
        assert len({p.field for p in problems}) == len(problems)  # one per field
    else:
        assert problems == []


def test_a_tax_year_no_calendar_holds_is_a_problem_not_a_crash() -> None:
    """A year past datetime's range once raised OverflowError from a date rule (found by
    the fuzz test): the HTTP answer is a 422 naming the field, the stream a dead letter."""
    for registry in ("rental", "payroll"):
        value = changed(registry, {"tax_year": 10**12})
        assert ("out_of_range", "tax_year") in _listed(value, registry) or (
            "schema",
            "tax_year",
        ) in _listed(value, registry)
