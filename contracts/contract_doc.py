"""docs/contract.md, generated from ``contracts/schemas`` and ``contracts.topics``.

``python -m contracts.contract_doc`` rewrites the document; a unit test
(tests/unit/contracts/test_contract_doc.py) fails when the committed document differs from
what the schemas say, and independently parses the document's tables and compares every
field, type and enum with the schemas (nothing missing, nothing extra).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import sys
from typing import Any

from contracts.topics import ALL_TOPICS, Keying

SCHEMA_DIR = pathlib.Path(__file__).parent / "schemas"
DOC_PATH = pathlib.Path(__file__).parent.parent / "docs" / "contract.md"

# What a registry does with each dead-letter reason (the schema's enum is the list of codes).
REASON_ADVICE: dict[str, tuple[str, str]] = {
    "not_json": (
        "not UTF-8 JSON (or NaN/Infinity, broken escapes, a repeated key)",
        "fix the serializer",
    ),
    "schema": (
        "a field is missing, unknown, of the wrong type or shape, or the Kafka key is not"
        " the PINFL",
        "see `field` and `reason`; check against the schema",
    ),
    "unknown_registry": ("`registry` names no registry", "use the topic's registry name"),
    "bad_pinfl": (
        "a PINFL is not 14 digits or its check digit is wrong",
        "fix the PINFL",
    ),
    "too_large": ("the event is over 64 KiB", "records are small; split or trim"),
    "out_of_range": (
        "a value of the right type outside what is possible (negative money, month 13, a tax"
        " year outside the accepted window, a date outside the tax year, over the ceiling), or"
        " an answer on disputes.responses.v1 to a dispute_id never sent",
        "fix the value",
    ),
    "conflict": (
        "an `event_id`, or a record's `revision`, was used before with other content",
        "give a new event a new `event_id` and a higher `revision`",
    ),
}

KEY_TEXT: dict[Keying, str] = {
    Keying.PINFL: "the taxpayer's PINFL (14 digits, UTF-8)",
    Keying.REGISTRY: "the registry name (UTF-8)",
    Keying.SOURCE: "the key of the refused event (or none)",
    Keying.CHAT: "a Telegram chat id (internal)",
    Keying.RECEIPTS: "the registry name (UTF-8); partition: the one the events came from",
}

# Sections in this order; the rest of the schemas follow alphabetically.
ORDER = (
    "registry.population.v1",
    "registry.payroll.v1",
    "registry.rental.v1",
    "registry.property_sale.v1",
    "registry.dividend.v1",
    "registry.deduction.v1",
    "registry.period_closed.v1",
    "registry.deadletter.v1",
    "registry.receipts.v1",
    "disputes.v1",
    "disputes.responses.v1",
    "returns.v1",
)


@dataclasses.dataclass(frozen=True, slots=True)
class Field:
    path: str  # dotted; ``[]`` marks the items of an array, ``*`` the values of a map
    type: str  # JSON types, e.g. "string", "integer or null", "array of object"
    values: str  # the const or the enum, comma-separated in backticks, or ""
    required: bool
    rule: str  # the schema's description (of the property, else of its $defs entry)


def load_schemas() -> dict[str, dict[str, Any]]:
    return {
        p.name.removesuffix(".json"): json.loads(p.read_text("utf-8"))
        for p in sorted(SCHEMA_DIR.glob("*.json"))
    }


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Merge a ``$ref`` into the node; returns the merged node and the referenced description."""
    ref = node.get("$ref")
    if ref is None:
        return node, ""
    name = ref.removeprefix("#/$defs/")
    target, _ = _resolve(root["$defs"][name], root)
    merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return merged, str(target.get("description", ""))


def _type_of(node: dict[str, Any]) -> str:
    kind = node.get("type")
    if kind is None:
        if "const" in node:
            kind = _json_type(node["const"])
        elif "enum" in node:
            kind = sorted({_json_type(v) for v in node["enum"]})
        else:
            kind = "any"
    kinds = [kind] if isinstance(kind, str) else list(kind)
    if "array" in kinds:
        items = node.get("items", {})
        inner = _type_of(items) if items else "any"
        kinds = [f"array of {inner}" if k == "array" else k for k in kinds]
    return " or ".join(kinds)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, dict) else "array"


def _values_of(node: dict[str, Any]) -> str:
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        return ", ".join(f"`{json.dumps(v)}`" for v in node["enum"])
    return ""


def _conditionally_required(node: dict[str, Any]) -> dict[str, str]:
    """``allOf: [{if: {properties: {x: {const: v}}}, then: {required: [y]}}]``.

    Returns ``{y: "when `x` is `v`"}``.
    """
    out: dict[str, str] = {}
    for clause in node.get("allOf", ()):
        condition = clause.get("if", {}).get("properties", {})
        for name in clause.get("then", {}).get("required", ()):
            words = " and ".join(
                f"when `{k}` is `{json.dumps(v['const'])}`"
                for k, v in condition.items()
                if "const" in v
            )
            out[name] = words or "conditionally"
    return out


def fields(schema: dict[str, Any]) -> list[Field]:
    """Every field of a schema, depth first, in the schema's order."""
    out: list[Field] = []

    def walk(node: dict[str, Any], prefix: str) -> None:
        required = set(node.get("required", ()))
        conditional = _conditionally_required(node)
        for name, raw in node.get("properties", {}).items():
            prop, ref_description = _resolve(raw, schema)
            path = f"{prefix}{name}"
            own = str(raw.get("description", ""))
            texts = [own] if own else []
            if ref_description and ref_description != own:
                texts.append(ref_description)
            if not texts and prop.get("description"):
                texts.append(str(prop["description"]))
            rule = "; ".join(texts)
            when = conditional.get(name)
            if when:
                rule = f"required {when}; {rule}" if rule else f"required {when}"
            out.append(Field(path, _type_of(prop), _values_of(prop), name in required, rule))
            descend(prop, path)

    def descend(prop: dict[str, Any], path: str) -> None:
        if "properties" in prop:
            walk(prop, f"{path}.")
        items = prop.get("items")
        if isinstance(items, dict):
            item, _ = _resolve(items, schema)
            if "properties" in item:
                walk(item, f"{path}[].")
            elif "enum" in item or "const" in item:
                out.append(Field(f"{path}[]", _type_of(item), _values_of(item), True, ""))
        extra = prop.get("additionalProperties")
        if isinstance(extra, dict) and "properties" not in prop:
            value, ref_description = _resolve(extra, schema)
            out.append(
                Field(
                    f"{path}.*",
                    _type_of(value),
                    _values_of(value),
                    False,
                    str(value.get("description") or ref_description),
                )
            )

    walk(schema, "")
    return out


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def _ordered(schemas: dict[str, dict[str, Any]]) -> list[str]:
    first = [n for n in ORDER if n in schemas]
    return first + sorted(n for n in schemas if n not in first)


HEADER = """\
# proactax contract v1

<!-- Generated by `python -m contracts.contract_doc` from contracts/schemas and
contracts/topics.py; tests/unit/contracts/test_contract_doc.py fails when it differs. -->

This is the contract registries and consumers code against: every topic, its Kafka key,
and every field of every message with its type and allowed values. It is generated from
the JSON Schema files in [`contracts/schemas/`](../contracts/schemas/) (the single source
of truth) and checked against them by a test. A change to the contract is a new version
(`.v2` topics), never a silent edit of v1. How to publish, with examples you can paste, is
in the [integrator guide](integrators.md).

Conventions: money is an integer number of tiyin (1 soum = 100 tiyin) in fields named
`*_tiyin`, never negative (except a return's `balance_tiyin`), never written `1.0` or
`1e3`; dates are `YYYY-MM-DD`; times RFC 3339 with seconds and an offset; TINs 9 digits;
PINFLs 14 digits whose 14th digit is the check digit. A message is one JSON object, UTF-8,
at most 64 KiB; duplicate keys, `NaN` and `Infinity` are refused. Unknown fields are
refused on every registry topic.

In the tables, `a.b` is field `b` of object `a`, `a[].b` field `b` of each item of array
`a`, and `a.*` every value of map `a`.
"""


def render() -> str:
    schemas = load_schemas()
    parts = [HEADER, "## Topics and keys\n", "| topic | key | what |", "|---|---|---|"]
    for spec in ALL_TOPICS:
        parts.append(f"| `{spec.name}` | {KEY_TEXT[spec.keying]} | {_cell(spec.description)} |")
    parts.append("")
    parts.append("## Dead-letter reasons\n")
    parts.append(
        "A refused message goes to the registry's own `registry.<registry>.deadletter.v1`"
        " (only that registry's Kafka user may read it) with one of these `reason_code`s, a"
        " `reason` sentence and the `field` at fault, and its receipt on"
        " `registry.<registry>.receipts.v1` says `dead_lettered`. The STC's"
        " `registry.deadletter.v1` holds every dead letter (staff only), including a message"
        " that names no registry (a `registry.period_closed.v1` or `disputes.responses.v1`"
        " message whose key is no registry's name). Nothing is dropped silently.\n"
    )
    parts += ["| `reason_code` | means | what to do |", "|---|---|---|"]
    codes = schemas["registry.deadletter.v1"]["properties"]["reason_code"]["enum"]
    for code in codes:
        means, todo = REASON_ADVICE[code]
        parts.append(f"| `{code}` | {_cell(means)} | {_cell(todo)} |")
    parts.append("")
    parts.append("## Messages\n")
    for name in _ordered(schemas):
        schema = schemas[name]
        parts.append(f"### `{name}`\n")
        parts.append(f"{_cell(str(schema.get('description', '')))}\n")
        parts.append(
            f"Schema: [`contracts/schemas/{name}.json`](../contracts/schemas/{name}.json)\n"
        )
        parts += ["| field | type | required | values | rule |", "|---|---|---|---|---|"]
        for f in fields(schema):
            parts.append(
                f"| `{f.path}` | {f.type} | {'yes' if f.required else 'no'} | {f.values} |"
                f" {_cell(f.rule)} |"
            )
        parts.append("")
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    text = render()
    if argv[1:2] == ["--check"]:
        same = DOC_PATH.read_text("utf-8") == text
        print("docs/contract.md is up to date" if same else "docs/contract.md is stale")
        return 0 if same else 1
    DOC_PATH.write_text(text, "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
