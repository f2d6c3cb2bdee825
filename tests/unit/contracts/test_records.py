"""contracts/records.py agrees with the schema files: same fields, same required, same types.

Both sides are turned into one normal form and compared:
``("str",)``, ``("int",)``, ``("bool",)``, ``("null",)``, ``("literal", values)``,
``("union", members)``, ``("list", item)``, ``("dict", value)`` and
``("record", {field: (required, type)})``.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any

import pytest

from contracts import records, topics
from contracts.validation import load_schema

Shape = tuple[Any, ...]
TOPICS = [t.name for t in topics.ALL_TOPICS]
SCALARS = {"string": ("str",), "integer": ("int",), "boolean": ("bool",), "null": ("null",)}


def from_schema(node: Mapping[str, Any], root: Mapping[str, Any]) -> Shape:
    ref = node.get("$ref")
    if ref is not None:
        node = {
            **root["$defs"][ref.rsplit("/", 1)[1]],
            **{k: v for k, v in node.items() if k != "$ref"},
        }
    if "const" in node:
        return ("literal", frozenset([node["const"]]))
    if "enum" in node:
        return ("literal", frozenset(node["enum"]))
    kind = node.get("type")
    if isinstance(kind, list):
        return ("union", frozenset(SCALARS[k] for k in kind))
    if kind == "array":
        return ("list", from_schema(node["items"], root))
    if kind == "object":
        if "properties" in node:
            required = set(node.get("required", []))
            return (
                "record",
                {
                    name: (name in required, from_schema(sub, root))
                    for name, sub in node["properties"].items()
                },
            )
        return ("dict", from_schema(node["additionalProperties"], root))
    return SCALARS[kind]


def from_type(hint: Any) -> Shape:
    origin = typing.get_origin(hint)
    if hint is str:
        return ("str",)
    if hint is int:
        return ("int",)
    if hint is bool:
        return ("bool",)
    if hint is type(None):
        return ("null",)
    if origin is typing.Literal:
        return ("literal", frozenset(typing.get_args(hint)))
    if origin in (typing.Union, types.UnionType):
        return ("union", frozenset(from_type(a) for a in typing.get_args(hint)))
    if origin is list:
        return ("list", from_type(typing.get_args(hint)[0]))
    if origin is dict:
        key, value = typing.get_args(hint)
        assert key is str
        return ("dict", from_type(value))
    if typing.is_typeddict(hint):
        hints = typing.get_type_hints(hint)
        return (
            "record",
            {
                name: (name in hint.__required_keys__, from_type(kind))
                for name, kind in hints.items()
            },
        )
    raise AssertionError(f"no normal form for {hint!r}")


def test_every_topic_has_a_record() -> None:
    assert set(records.TOPIC_RECORDS) == set(TOPICS)


@pytest.mark.parametrize("topic", TOPICS)
def test_the_record_matches_the_schema(topic: str) -> None:
    schema = load_schema(topic)
    expected = from_schema(schema, schema)
    actual = from_type(records.TOPIC_RECORDS[topic])
    assert actual[0] == expected[0] == "record"
    for name in expected[1]:
        assert actual[1].get(name) == expected[1][name], f"{topic}: field {name}"
    assert set(actual[1]) == set(expected[1])


@pytest.mark.parametrize("registry", topics.REGISTRIES)
def test_registry_data_records_match_the_data_schemas(registry: str) -> None:
    schema = load_schema(f"registry.{registry}.v1")
    expected = from_schema(schema["properties"]["data"], schema)
    assert from_type(records.REGISTRY_DATA[registry]) == expected


def test_data_field_order_follows_the_contract() -> None:
    for registry, record in records.REGISTRY_DATA.items():
        schema = load_schema(f"registry.{registry}.v1")
        assert list(typing.get_type_hints(record)) == list(
            schema["properties"]["data"]["properties"]
        )
