"""The schema files: one per topic, valid draft 2020-12, consistent, and every example valid."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from contracts import topics
from contracts.deadletters import REASON_CODES, deadletter_value
from contracts.registry_events import EventRejected, decode_event
from contracts.validation import (
    SCHEMA_DIR,
    fast_check,
    load_schema,
    schema_path,
    validator,
)
from tests.unit.contracts.events import ALL_EXAMPLES, POLICY, example, raw

REPO = Path(__file__).resolve().parents[3]
TOPICS = [t.name for t in topics.ALL_TOPICS]
REGISTRY_TOPICS = [topics.registry_topic(r) for r in topics.REGISTRIES]
ANNOTATIONS = {"$schema", "$id", "title", "description", "examples", "$defs", "$comment"}


def test_every_topic_has_a_schema_file_and_every_file_a_topic() -> None:
    files = {p.name.removesuffix(".json") for p in SCHEMA_DIR.glob("*.json")}
    assert files == set(TOPICS)


@pytest.mark.parametrize("topic", TOPICS)
def test_the_file_is_a_valid_draft_2020_12_schema_named_for_its_topic(topic: str) -> None:
    schema = json.loads(schema_path(topic).read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"] == f"urn:proactax:schema:{topic}"
    assert schema["title"].startswith(topic)
    assert schema["examples"], "every schema carries at least one example"


def _objects(node: Any, path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            yield path, node
        for key, value in node.items():
            if key != "examples":
                yield from _objects(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _objects(value, f"{path}/{index}")


@pytest.mark.parametrize("topic", TOPICS)
def test_unknown_fields_are_rejected_everywhere(topic: str) -> None:
    for path, node in _objects(load_schema(topic)):
        if node.get("type") != "object":
            continue  # an if/then fragment, not an object definition
        assert "additionalProperties" in node, f"{topic} {path} allows unknown fields"
        if node["additionalProperties"] is not False:  # a map: its values are typed
            assert isinstance(node["additionalProperties"], dict), path


@pytest.mark.parametrize("topic", TOPICS)
def test_every_required_field_is_declared(topic: str) -> None:
    for path, node in _objects(load_schema(topic)):
        if node.get("type") == "object":
            missing = set(node.get("required", [])) - set(node.get("properties", {}))
            assert not missing, f"{topic} {path} requires undeclared {missing}"


def _strings(node: Any, key: str) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key and isinstance(v, str):
                yield v
            elif k != "examples":
                yield from _strings(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v, key)


@pytest.mark.parametrize("topic", TOPICS)
def test_patterns_mean_the_same_in_ecma_262_and_python(topic: str) -> None:
    for pattern in _strings(load_schema(topic), "pattern"):
        assert pattern.startswith("^") and pattern.endswith("$"), pattern
        assert "$" not in pattern[:-1], f"only a final $: {pattern}"
        assert "\\d" not in pattern and "\\w" not in pattern, f"ASCII classes only: {pattern}"
        re.compile(pattern)


def test_shared_definitions_are_identical_in_every_file() -> None:
    seen: dict[str, tuple[str, Any]] = {}
    for topic in TOPICS:
        for name, definition in load_schema(topic).get("$defs", {}).items():
            if name in seen:
                first_topic, first = seen[name]
                assert definition == first, f"$defs/{name} differs in {topic} and {first_topic}"
            else:
                seen[name] = (topic, definition)
    assert {"pinfl", "tin", "tiyin", "date", "rfc3339"} <= set(seen)


def test_every_ref_resolves_inside_its_file() -> None:
    for topic in TOPICS:
        schema = load_schema(topic)
        for ref in _strings(schema, "$ref"):
            assert ref.startswith("#/$defs/"), ref
            assert ref.removeprefix("#/$defs/") in schema["$defs"], f"{topic}: {ref}"


@pytest.mark.parametrize("topic", REGISTRY_TOPICS)
def test_registry_envelope_follows_the_contract(topic: str) -> None:
    schema = load_schema(topic)
    envelope = schema["properties"]
    common = [
        "event_id",
        "registry",
        "schema_version",
        "record_id",
        "revision",
        "action",
        "occurred_at",
        "pinfl",
    ]
    if topic == "registry.population.v1":
        assert list(envelope) == [*common, "data"]
        assert "tax_year" not in schema["required"]
    else:
        assert list(envelope) == [*common, "tax_year", "data"]
        assert "tax_year" in schema["required"]
    assert "data" not in schema["required"]  # required for upsert only (allOf)
    assert envelope["registry"]["const"] == topic.split(".")[1]
    data = envelope["data"]
    assert data["required"] == list(data["properties"]), "all data fields are required"
    for name, node in data["properties"].items():
        if name.endswith("_tiyin"):
            assert node.get("$ref") in ("#/$defs/tiyin", "#/$defs/tiyin_or_null"), name


def test_contract_tables_name_the_same_data_fields() -> None:
    """The data fields of every registry, in order, as the integrator guide (always in the
    repo) and the shared CONTRACT.md (beside the checkout in development and CI) name them."""
    documents = [REPO / "docs" / "integrators.md"]
    contract = REPO.parent / "shared" / "CONTRACT.md"
    if contract.exists():
        documents.append(contract)
    for document in documents:
        text = document.read_text(encoding="utf-8")
        for registry in topics.REGISTRIES:
            declared = list(
                load_schema(f"registry.{registry}.v1")["properties"]["data"]["properties"]
            )
            named = _named_fields(text, registry, document.name == "CONTRACT.md")
            assert named == declared, (document.name, registry)


def _named_fields(text: str, registry: str, contract_layout: bool) -> list[str]:
    """The backquoted field names in the table row of ``registry`` (CONTRACT.md's table has
    the topic in column 1 and the fields in column 3; the guide has the name and fields)."""
    for line in text.splitlines():
        cells = line.split("|")
        if contract_layout and f"`registry.{registry}.v1`" in line and len(cells) > 3:
            cell = cells[3]
        elif not contract_layout and len(cells) == 4 and cells[1].strip() == registry:
            cell = cells[2]
        else:
            continue
        cell = re.sub(r"\([^)]*\)", "", cell)  # drop "(`M`/`F`)" and notes
        return re.findall(r"`([a-z_]+)`", cell)
    raise AssertionError(f"no table row for {registry}")


# --- examples ---------------------------------------------------------------------------


@pytest.mark.parametrize("topic", TOPICS)
def test_the_schema_examples_are_valid(topic: str) -> None:
    for value in load_schema(topic)["examples"]:
        errors = [e.message for e in validator(topic).iter_errors(value)]
        assert errors == []
        assert fast_check(topic)(value)


@pytest.mark.parametrize(("registry", "action"), ALL_EXAMPLES)
def test_the_registry_examples_decode(registry: str, action: str) -> None:
    value = example(registry, action)
    decoded = decode_event(raw(value), registry, POLICY)
    assert (decoded.registry, decoded.action) == (registry, action)
    assert (decoded.data is None) == (action == "void")


def _docs_json() -> Iterator[tuple[str, Any]]:
    """JSON values in docs/: *.json files and ```json blocks of *.md files that parse."""
    docs = REPO / "docs"
    for path in sorted(docs.glob("**/*.json")):
        yield str(path.relative_to(REPO)), json.loads(path.read_text(encoding="utf-8"))
    for path in sorted([*docs.glob("**/*.md"), REPO / "README.md"]):
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8")
        for number, block in enumerate(re.findall(r"```json\n(.*?)```", text, re.S)):
            try:
                value = json.loads(block)
            except json.JSONDecodeError:
                continue  # an illustration, not an example
            yield f"{path.relative_to(REPO)} block {number + 1}", value


def _registry_events(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if {"event_id", "registry", "schema_version", "record_id"} <= node.keys():
            yield node
            return
        for value in node.values():
            yield from _registry_events(value)
    elif isinstance(node, list):
        for value in node:
            yield from _registry_events(value)


def test_registry_events_shown_in_the_docs_decode() -> None:
    for where, document in _docs_json():
        for event in _registry_events(document):
            if event["registry"] in topics.REGISTRIES:  # else a deliberately wrong example
                try:
                    decode_event(raw(event), event["registry"], POLICY)
                except EventRejected as rejected:
                    pytest.fail(f"{where}: {rejected.reason_code} {rejected.field}: {rejected}")


def test_the_mock_season_is_valid_against_the_schemas() -> None:
    from devtools.registries_mock.season import generate_season

    season = generate_season(n_people=30, tax_year=2026, seed=11)
    for event in season.events:
        decode_event(raw(event.value), event.topic_registry, POLICY)


def test_returns_v1_as_built_is_valid() -> None:
    from agents.returns_builder import return_id
    from contracts.returns_v1 import to_returns_v1
    from core.clock import rfc3339
    from devtools.registries_mock.season import generate_season
    from tax import RegistryRecord, compute_return, facts_from_records, load_parameters

    parameters = load_parameters()
    season = generate_season(n_people=15, tax_year=2026, seed=3)
    for (pinfl, year), records in season.oracle.items():
        facts = facts_from_records(
            pinfl,
            year,
            [
                RegistryRecord(*key.split("/", 1), revision, data)
                for key, (revision, data) in sorted(records.items())
            ],
        )
        value = to_returns_v1(
            compute_return(facts, parameters, year),
            return_id=return_id(pinfl, year),
            version=1,
            computed_at=rfc3339(datetime(2027, 2, 1, tzinfo=UTC)),
        )
        errors = [
            (list(e.absolute_path), e.message) for e in validator("returns.v1").iter_errors(value)
        ]
        assert errors == []
        assert fast_check("returns.v1")(value)


def test_dead_letters_as_built_are_valid_and_the_codes_agree() -> None:
    schema = load_schema(topics.DEADLETTER)
    assert set(schema["properties"]["reason_code"]["enum"]) == REASON_CODES
    for code in sorted(REASON_CODES):
        for field in (None, "data.gross_income_tiyin"):
            value = json.loads(
                deadletter_value(
                    source_topic="registry.payroll.v1",
                    source_partition=0,
                    source_offset=12,
                    received_at="2027-01-14T10:02:12+05:00",
                    reason_code=code,
                    reason="A sentence.",
                    field=field,
                    raw=b"\xff{" if field else None,
                )
            )
            assert list(validator(topics.DEADLETTER).iter_errors(value)) == []


def test_a_dead_letter_stays_valid_with_an_overlong_reason_or_field() -> None:
    value = json.loads(
        deadletter_value(
            source_topic="registry.payroll.v1",
            source_partition=0,
            source_offset=0,
            received_at="2027-01-14T10:02:12+05:00",
            reason_code="schema",
            reason="x" * 5000,
            field="data." + "y" * 500,
            raw=b"{}",
        )
    )
    assert list(validator(topics.DEADLETTER).iter_errors(value)) == []
    assert value["field"].startswith("data.yyy") and value["field"].endswith("...")
