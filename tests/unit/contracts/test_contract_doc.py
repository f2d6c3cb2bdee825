"""docs/contract.md against contracts/schemas: every field, type and enum, nothing extra.

The expected side is walked here, independently of ``contracts.contract_doc`` (which
renders the document), and the document's tables are parsed back from the Markdown.
"""

from __future__ import annotations

import json
import pathlib
import re
from typing import Any

import pytest

from contracts import contract_doc
from contracts.topics import TOPIC_NAMES

ROOT = pathlib.Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "contract.md"
SCHEMAS = {
    p.name.removesuffix(".json"): json.loads(p.read_text("utf-8"))
    for p in sorted((ROOT / "contracts" / "schemas").glob("*.json"))
}


def _deref(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target = root["$defs"][node["$ref"].split("/")[-1]]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _types(node: dict[str, Any]) -> set[str]:
    """The JSON types a node allows, as words (``array`` as ``array of <item types>``)."""
    kind = node.get("type")
    if kind is None and "const" in node:
        kind = {type(node["const"]).__name__}
    elif kind is None and "enum" in node:
        kind = {type(v).__name__ for v in node["enum"]}
    words = {"str": "string", "int": "integer", "bool": "boolean", "NoneType": "null"}
    kinds = {words.get(k, k) for k in ({kind} if isinstance(kind, str) else set(kind or ()))}
    if "array" in kinds:
        items = node.get("items", {})
        item_types = " or ".join(sorted(_types(items))) if items else "any"
        kinds = (kinds - {"array"}) | {f"array of {item_types}"}
    return kinds


def expected(schema: dict[str, Any]) -> dict[str, tuple[set[str], list[Any]]]:
    """path -> (the JSON types of the field, its const/enum values)."""
    out: dict[str, tuple[set[str], list[Any]]] = {}

    def visit(node: dict[str, Any], prefix: str) -> None:
        for name, raw in node.get("properties", {}).items():
            prop = _deref(raw, schema)
            path = prefix + name
            values = [prop["const"]] if "const" in prop else list(prop.get("enum", ()))
            out[path] = (_types(prop), values)
            inner(prop, path)

    def inner(prop: dict[str, Any], path: str) -> None:
        visit(prop, path + ".")
        items = prop.get("items")
        if isinstance(items, dict):
            item = _deref(items, schema)
            visit(item, path + "[].")
            if "enum" in item or "const" in item:
                values = [item["const"]] if "const" in item else list(item["enum"])
                out[path + "[]"] = (_types(item), values)
        extra = prop.get("additionalProperties")
        if isinstance(extra, dict) and "properties" not in prop:
            value = _deref(extra, schema)
            out[path + ".*"] = (_types(value), list(value.get("enum", ())))

    visit(schema, "")
    return out


def documented(text: str | None = None) -> dict[str, dict[str, tuple[str, str]]]:
    """schema name -> path -> (type cell, values cell), parsed from docs/contract.md."""
    sections: dict[str, dict[str, tuple[str, str]]] = {}
    current: dict[str, tuple[str, str]] | None = None
    for line in (DOC.read_text("utf-8") if text is None else text).splitlines():
        heading = re.fullmatch(r"### `([^`]+)`", line)
        if heading:
            current = sections.setdefault(heading.group(1), {})
            continue
        if line.startswith("## "):
            current = None
        row = re.fullmatch(r"\| `([^`]+)` \| ([^|]+) \| (yes|no) \| ([^|]*) \|.*", line)
        if current is not None and row:
            assert row.group(1) not in current, f"{row.group(1)} documented twice"
            current[row.group(1)] = (row.group(2).strip(), row.group(4).strip())
    return sections


def test_the_committed_document_is_what_the_schemas_generate() -> None:
    assert DOC.read_text("utf-8") == contract_doc.render(), (
        "docs/contract.md is stale: run `python -m contracts.contract_doc`"
    )


def test_every_schema_has_a_section_and_no_section_is_extra() -> None:
    assert set(documented()) == set(SCHEMAS)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_field_type_and_enum_is_documented_and_nothing_extra(name: str) -> None:
    want = expected(SCHEMAS[name])
    got = documented()[name]
    assert set(got) == set(want), (
        f"missing {sorted(set(want) - set(got))}, extra {sorted(set(got) - set(want))}"
    )
    for path, (types, values) in want.items():
        type_cell, values_cell = got[path]
        words = {w.strip() for w in type_cell.split(" or ")}
        assert words == types, f"{name} {path}: documented {type_cell!r}, schema {types}"
        documented_values = re.findall(r"`([^`]+)`", values_cell)
        assert documented_values == [json.dumps(v) for v in values], f"{name} {path}"


def test_every_topic_and_dead_letter_reason_is_documented() -> None:
    text = DOC.read_text("utf-8")
    topics_section = text.split("## Topics and keys", 1)[1].split("## ", 1)[0]
    topics = re.findall(r"^\| `([a-z0-9._]+)` \|", topics_section, flags=re.M)
    assert set(topics) == set(TOPIC_NAMES)
    reasons_section = text.split("## Dead-letter reasons", 1)[1].split("## Messages", 1)[0]
    reasons = re.findall(r"^\| `([a-z_]+)` \| (?!means)", reasons_section, flags=re.M)
    enum = SCHEMAS["registry.deadletter.v1"]["properties"]["reason_code"]["enum"]
    assert sorted(reasons) == sorted(enum)


def test_the_comparison_notices_a_missing_row_and_a_wrong_enum() -> None:
    """The check can fail: a dropped row or an edited enum in the document is seen."""
    text = DOC.read_text("utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| `data.pit_withheld_tiyin`"))
    assert (
        "data.pit_withheld_tiyin"
        not in documented(text.replace(row + "\n", "", 1))["registry.payroll.v1"]
    )
    edited = text.replace('`"legal_entity"`', '`"company"`', 1)
    assert documented(edited)["registry.rental.v1"]["data.tenant_kind"][1] == (
        '`"individual"`, `"company"`'
    )
    assert expected(SCHEMAS["registry.rental.v1"])["data.tenant_kind"][1] == [
        "individual",
        "legal_entity",
    ]
