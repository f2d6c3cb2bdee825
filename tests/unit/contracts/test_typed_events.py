"""The typed hot path (msgspec Structs generated from the schema files) against the files and
against the reference path (strict JSON reader + jsonschema + value rules).

* The Structs carry every field, type, enum, pattern and bound of each schema file, and
  nothing else (compared through msgspec's own JSON Schema of the Structs).
* The typed path accepts exactly what the reference accepts, on generated near-valid events
  and on hostile bytes; where it declines, the reference decides (never the other way).
* Its content digest is byte for byte ``canonical_json``'s.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import topics
from contracts.registry_events import (
    EventRejected,
    RegistryEvent,
    canonical_json,
    decode_event,
    event_problems,
)
from contracts.strict_json import parse_json
from contracts.typed_events import conforms, decode_value, ecma_pattern, event_type, topic_type
from contracts.validation import load_schema, schema_problem, value_problem
from devtools.registries_mock.season import generate_season
from tests.unit.contracts.events import POLICY, changed, example
from tests.unit.contracts.test_properties import FUZZ, json_values, mutated_events, plausible

_KEYWORDS = ("type", "const", "enum", "pattern", "minLength", "maxLength", "minimum", "maximum")


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    return {**_resolve(schema, schema["$defs"][ref.rsplit("/", 1)[1]]), **node}


def _constraints(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """The keywords of a field that decide validity, normalised to msgspec's spelling."""
    node = _resolve(schema, node)
    found = {k: node[k] for k in _KEYWORDS if k in node}
    if "const" in found:
        found["enum"] = [found.pop("const")]
    if "enum" in found:
        found.pop("type", None)
        found["enum"] = sorted(found["enum"], key=str)
    if "pattern" in found:
        found["pattern"] = ecma_pattern(found["pattern"])
    return found


def _msgspec_constraints(defs: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[1]]
    if "anyOf" in node:  # T | None
        kinds = node["anyOf"]
        inner = next(k for k in kinds if k.get("type") != "null")
        found = _msgspec_constraints(defs, inner)
        found["type"] = [found["type"], "null"]
        return found
    found = {k: node[k] for k in _KEYWORDS if k in node}
    if "enum" in found:
        found.pop("type", None)
        found["enum"] = sorted(found["enum"], key=str)
    return found


@pytest.mark.parametrize("registry", topics.REGISTRIES)
def test_the_structs_carry_every_field_type_enum_and_bound_of_the_schema(registry: str) -> None:
    schema = dict(load_schema(f"registry.{registry}.v1"))
    defs = msgspec.json.schema(event_type(registry))["$defs"]
    envelope = {k: v for k, v in schema["properties"].items() if k not in ("action", "data")}
    tops = {name: node for name, node in defs.items() if "." not in name}
    actions = {node["properties"]["action"]["enum"][0]: node for node in tops.values()}
    assert set(actions) == set(schema["properties"]["action"]["enum"]) == {"upsert", "void"}
    for action, node in actions.items():
        with_data = {"data"} if action == "upsert" else set()
        assert set(node["properties"]) - {"action"} == set(envelope) | with_data
        assert set(node["required"]) - {"action"} == (set(schema["required"]) - {"action"}) | (
            with_data
        )
        for name, sub in envelope.items():
            got = _msgspec_constraints(defs, node["properties"][name])
            assert got == _constraints(schema, sub), (action, name)

    data = schema["properties"]["data"]
    variants = [node for name, node in defs.items() if ".data" in name]
    assert variants
    branches = {}  # the schema's if/then/else on one data property (the tag)
    for rule in data.get("allOf", ()):
        ((tag, test),) = rule["if"]["properties"].items()
        branches[tag] = (test["const"], rule["then"]["properties"], rule["else"]["properties"])
    tag_values: set[str] = set()
    for node in variants:
        assert set(node["properties"]) == set(data["properties"])
        assert set(node["required"]) == set(data["required"])
        for name, sub in node["properties"].items():
            got = _msgspec_constraints(defs, sub)
            want = _constraints(schema, data["properties"][name])
            if name in branches:  # the tag: one value of the schema's enum per variant
                assert len(got["enum"]) == 1 and got["enum"][0] in want["enum"]
                tag_values.add(got["enum"][0])
                continue
            for tag, (value, then, other) in branches.items():
                branch = then if node["properties"][tag]["enum"][0] == value else other
                if name in branch:
                    want = {**want, **_constraints(schema, branch[name])}
            assert got == want, (name, got, want)
    for tag in branches:
        assert tag_values == set(data["properties"][tag]["enum"])


def _reference_accepts(raw: bytes, registry: str) -> bool:
    """The reference path alone: strict JSON, jsonschema, value rules."""
    try:
        value = parse_json(raw)
    except EventRejected:
        return False
    if not isinstance(value, dict):
        return False
    topic = topics.registry_topic(registry)
    if schema_problem(value, topic, POLICY.money_ceiling_tiyin) is not None:
        return False
    return value_problem(value, POLICY) is None


def _typed_accepts(raw: bytes, registry: str) -> bool:
    typed = decode_value(raw, registry)
    return typed is not None and value_problem(typed[0], POLICY) is None


@FUZZ
@given(mutated_events(st.one_of(plausible, json_values)), st.booleans())
def test_the_typed_path_agrees_with_the_reference(case: Any, ascii_only: bool) -> None:
    registry, value = case
    raw = json.dumps(value, ensure_ascii=ascii_only).encode()
    typed = _typed_accepts(raw, registry)
    assert typed == _reference_accepts(raw, registry)
    if typed:
        decoded = decode_value(raw, registry)
        assert decoded is not None
        assert decoded[0] == json.loads(raw)
        assert decoded[1] == canonical_json(json.loads(raw))


@FUZZ
@given(st.binary(max_size=400), st.sampled_from(topics.REGISTRIES))
def test_the_typed_path_never_accepts_what_the_reference_refuses(raw: bytes, registry: str) -> None:
    if _typed_accepts(raw, registry):
        assert _reference_accepts(raw, registry)


@pytest.mark.parametrize(
    "raw",
    [
        # a key repeated in one object: decoders keep one, the contract refuses both
        b'{"event_id":"a","event_id":"a",' + json.dumps(example("payroll"))[1:].encode(),
        json.dumps(example("payroll"))[:-1].encode() + b',"revision":2}',
        json.dumps(example("payroll")).replace('"month": ', '"month": 1, "month": ').encode(),
        # the same, with the extra ':' hidden by an escaped one elsewhere
        json.dumps(example("payroll"))
        .replace('"month": ', '"month": 1, "month": ')
        .replace('"record_id": "', '"record_id": "\\u003a')
        .encode(),
    ],
)
def test_a_repeated_key_never_takes_the_typed_path(raw: bytes) -> None:
    assert decode_value(raw, "payroll") is None
    with pytest.raises(EventRejected) as rejected:
        decode_event(raw, "payroll", POLICY)
    assert rejected.value.reason_code == "schema"
    assert "occurs twice" in rejected.value.reason


def test_an_escaped_colon_is_declined_by_the_typed_path_and_accepted_by_the_reference() -> None:
    value = changed("payroll", {"record_id": "PAY:1"})
    raw = json.dumps(value).replace("PAY:1", "PAY\\u003a1").encode()
    assert decode_value(raw, "payroll") is None
    event = decode_event(raw, "payroll", POLICY)
    assert event.record_id == "PAY:1"
    assert (
        event.content_digest
        == decode_event(json.dumps(value).encode(), "payroll", POLICY).content_digest
    )


def test_the_digest_of_a_season_is_canonical_jsons() -> None:
    season = generate_season(n_people=40, tax_year=2026, seed=3)
    assert len(season.events) > 100
    for event in season.events:
        for raw in (
            json.dumps(event.value).encode(),
            json.dumps(event.value, ensure_ascii=False, indent=1).encode(),
        ):
            decoded = decode_event(raw, event.topic_registry, POLICY)
            assert isinstance(decoded, RegistryEvent)
            assert decoded.content_digest == hashlib.sha256(canonical_json(event.value)).hexdigest()


@pytest.mark.parametrize("registry", topics.REGISTRIES)
def test_every_example_takes_the_typed_path(registry: str) -> None:
    for value in load_schema(f"registry.{registry}.v1")["examples"]:
        assert decode_value(json.dumps(value).encode(), registry) is not None
        assert event_problems(json.dumps(value).encode(), registry, POLICY) == []


@pytest.mark.parametrize("topic", [t.name for t in topics.ALL_TOPICS])
def test_every_schema_file_has_its_types(topic: str) -> None:
    """The yes/no check of every topic is generated from its file (schema_check.fast_check);
    its agreement with jsonschema is test_properties' differential test."""
    assert topic_type(topic) is not None
    for example_value in load_schema(topic).get("examples", []):
        assert conforms(example_value, topic)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "additionalProperties": False, "properties": {"a": {"type": "number"}}},
        {"type": "object", "additionalProperties": False, "properties": {"a": {"oneOf": []}}},
        {"type": "object", "additionalProperties": False, "properties": {"a": {"enum": [1]}}},
        {"type": "object", "properties": {"a": {"type": "string"}}},  # open with known fields
        {"type": "object", "additionalProperties": False, "allOf": [{"not": {}}]},
    ],
)
def test_a_keyword_the_generator_does_not_know_stops_it(
    schema: dict[str, Any], tmp_path: Any
) -> None:
    from contracts.typed_events import _object

    with pytest.raises(ValueError):
        _object(schema, schema, "T")
