"""Valid registry events to start from, and a way to change one field of them."""

from __future__ import annotations

import copy
import json
from typing import Any

from contracts.registry_events import ValidationPolicy
from contracts.topics import REGISTRIES
from contracts.validation import load_schema

POLICY = ValidationPolicy(range(2023, 2028))
PINFL = "31501901230014"  # valid check digit
OTHER_PINFL = "50109061230025"  # valid check digit, another person
DELETE = object()


def example(registry: str, action: str = "upsert") -> dict[str, Any]:
    """The schema file's own example of ``registry`` (upsert or void), as a fresh copy."""
    for value in load_schema(f"registry.{registry}.v1")["examples"]:
        if value["action"] == action:
            return copy.deepcopy(value)
    raise LookupError(registry, action)


def changed(registry: str, changes: dict[str, Any], action: str = "upsert") -> dict[str, Any]:
    """The example with dotted-path changes applied: ``{"data.month": 13, "tax_year": DELETE}``."""
    value = example(registry, action)
    for path, new in changes.items():
        *parents, last = path.split(".")
        node = value
        for part in parents:
            node = node[part]
        if new is DELETE:
            node.pop(last, None)
        else:
            node[last] = new
    return value


def raw(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


ALL_EXAMPLES = [(registry, action) for registry in REGISTRIES for action in ("upsert", "void")]
