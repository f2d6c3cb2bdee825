"""Every ``$ref`` of the published OpenAPI document names a schema it holds: ReDoc renders
nothing at all ("Invalid reference token") when one does not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def test_every_reference_resolves() -> None:
    document = json.loads(DOC.read_text())
    schemas = document["components"]["schemas"]
    refs = _refs(document)
    assert refs, "the document references its schemas"
    missing = sorted({r for r in refs if r.removeprefix("#/components/schemas/") not in schemas})
    assert missing == []
