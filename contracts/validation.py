"""Validation of the wire contracts: one import for the parts, each in its own module.

The JSON Schema files under ``contracts/schemas/`` are the single source of truth for every
topic's shape. This module loads them lazily (one compiled validator per topic and process)
and adds what a schema cannot say or says too loosely for us:

* JSON is read strictly: UTF-8 only, no NaN/Infinity, no duplicate keys, no lone
  surrogates, limited nesting and size.
* ``integer`` means a JSON number written without a fraction or exponent: ``1.0`` and
  ``true`` are not integers (standard JSON Schema would accept ``1.0``).
* ``pattern`` anchors ``$`` at the very end of the string, as ECMA-262 does (Python's
  ``$`` would also match before a trailing newline).
* Rules that depend on configuration or on several fields (``ValidationPolicy``): the
  PINFL check digit, the accepted tax years, the money ceiling, real calendar dates in a
  sane range, dates inside the tax year, a lease overlapping it, amounts that cannot
  exceed others.

Every rejection is a ``Problem``: a dead-letter ``reason_code`` (CONTRACT.md), the field
as a dotted path (``data.gross_income_tiyin``; None for the event as a whole) and a sentence
an integrator can act on. When an event has several problems the one reported is chosen
deterministically: structure (schema) before values, then the field that comes first in
the contract's order.

The parts, along their seams:

* ``contracts.problems``: ``EventRejected``, ``Problem``, ``ValidationPolicy``;
* ``contracts.strict_json``: the bounded strict JSON reader (``parse_json``);
* ``contracts.schema_check``: the schema files, the fast yes/no check (msgspec) and
  jsonschema (the reference, which explains); ``schema_problem``, ``schema_problems``;
* ``contracts.schema_messages``: jsonschema errors as reason codes and sentences;
* ``contracts.value_rules``: the rules beyond the schema (``value_problem``);
* ``contracts.typed_events``: msgspec types generated from every schema file; registry
  events are decoded and type-checked with them in one pass (the hot path).
"""

from __future__ import annotations

from contracts.problems import INT64_MAX, EventRejected, Problem, ValidationPolicy, dotted
from contracts.schema_check import (
    SCHEMA_DIR,
    check_schema,
    fast_check,
    load_schema,
    rank,
    schema_path,
    schema_problem,
    validator,
)
from contracts.strict_json import MAX_DEPTH, MAX_VALUES, parse_json
from contracts.value_rules import (
    DATE_MIN,
    LEASE_END_MAX,
    OWN_BENEFIT_KINDS,
    data_fields,
    pinfl_check_digit_ok,
    value_problem,
)

__all__ = [
    "DATE_MIN",
    "INT64_MAX",
    "LEASE_END_MAX",
    "MAX_DEPTH",
    "MAX_VALUES",
    "OWN_BENEFIT_KINDS",
    "SCHEMA_DIR",
    "EventRejected",
    "Problem",
    "ValidationPolicy",
    "check_schema",
    "data_fields",
    "dotted",
    "fast_check",
    "load_schema",
    "parse_json",
    "pinfl_check_digit_ok",
    "rank",
    "schema_path",
    "schema_problem",
    "validator",
    "value_problem",
]
