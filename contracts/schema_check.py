"""The schema files and the checks against them: a yes/no check in C (the msgspec types
generated from each file by ``contracts.typed_events``) for the common case, a valid
message, and jsonschema (the reference) to explain a failure.

``integer`` means a JSON number written without a fraction or exponent; ``pattern`` anchors
``$`` at the very end of the string, as ECMA-262 does."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from contracts.problems import Problem
from contracts.schema_messages import KEYWORD_ORDER, translate
from contracts.topics import schema_of

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"


# --- schema files -----------------------------------------------------------------------


def schema_path(topic: str) -> Path:
    """Per-registry topics share a schema (``registry.payroll.receipts.v1`` ►
    ``registry.receipts.v1``)."""
    return SCHEMA_DIR / f"{schema_of(topic)}.json"


@functools.cache
def load_schema(topic: str) -> Mapping[str, Any]:
    """The parsed schema file of ``topic`` (shared: do not mutate)."""
    with schema_path(topic).open(encoding="utf-8") as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema


@functools.cache
def _pattern(pattern: str) -> re.Pattern[str]:
    # ECMA-262 (the regex dialect of JSON Schema) anchors "$" at the end of the input only.
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


@functools.cache
def _validator_class() -> Any:
    from jsonschema import Draft202012Validator, ValidationError, validators

    def is_integer(_checker: Any, instance: Any) -> bool:
        return isinstance(instance, int) and not isinstance(instance, bool)

    def pattern(validator: Any, value: str, instance: Any, _schema: Any) -> Iterator[Any]:
        if validator.is_type(instance, "string") and not _pattern(value).search(instance):
            yield ValidationError(f"{instance!r} does not match {value!r}")

    return validators.extend(
        Draft202012Validator,
        validators={"pattern": pattern},
        type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", is_integer),
    )


@functools.cache
def validator(topic: str) -> Any:
    """The compiled validator of ``topic``: built on first use, then reused."""
    schema = load_schema(topic)
    return _validator_class()(schema)


def check_schema(schema: Mapping[str, Any]) -> None:
    """Raise if ``schema`` is not a valid draft 2020-12 schema."""
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema)


@functools.cache
def fast_check(topic: str) -> Callable[[Any], bool]:
    """``topic``'s schema as one yes/no predicate over parsed JSON values: the msgspec types
    generated from the same file (``contracts.typed_events``). Most messages are valid and
    are accepted by it alone; jsonschema (the reference) runs only to explain a failure.
    tests/unit/contracts keep the two in agreement (a differential hypothesis test)."""
    from contracts.typed_events import conforms  # typed_events reads the files through here

    return functools.partial(_conforms, conforms, topic)


def _conforms(conforms: Callable[[Any, str], bool], topic: str, value: Any) -> bool:
    return conforms(value, topic)


def schema_problem(value: Any, topic: str, money_ceiling: int | None = None) -> Problem | None:
    """The first (contract order) schema violation of ``value`` against ``topic``'s schema."""
    if fast_check(topic)(value):
        return None
    problems = _ranked(value, topic, money_ceiling)
    return problems[0] if problems else None


def schema_problems(value: Any, topic: str, money_ceiling: int | None = None) -> list[Problem]:
    """Every schema violation of ``value``, one per field (its first), in contract order."""
    if fast_check(topic)(value):
        return []
    seen: set[tuple[str | int, ...]] = set()
    problems: list[Problem] = []
    for problem in _ranked(value, topic, money_ceiling):
        if problem.path not in seen:
            seen.add(problem.path)
            problems.append(problem)
    return problems


def _ranked(value: Any, topic: str, money_ceiling: int | None) -> list[Problem]:
    errors = list(validator(topic).iter_errors(value))
    if not errors:  # the reference has the last word (the two are tested to agree)
        return []
    schema = load_schema(topic)
    pinfl_def = schema.get("$defs", {}).get("pinfl")
    candidates: list[tuple[Any, int, Problem]] = []
    for error in errors:
        for problem in translate(error, topic, pinfl_def, money_ceiling):
            order = KEYWORD_ORDER.get(error.validator, 7)
            candidates.append((rank(schema, problem.path), order, problem))
    candidates.sort(key=lambda c: (c[0], c[1], c[2].reason))
    return [c[2] for c in candidates]


def rank(schema: Mapping[str, Any], path: Sequence[str | int]) -> tuple[tuple[int, Any], ...]:
    """Sort key of a field: its position in the schema's properties, level by level."""
    key: list[tuple[int, Any]] = []
    node: Mapping[str, Any] | None = schema
    for part in path:
        if isinstance(part, int):
            key.append((0, part))
            node = _resolve(schema, node.get("items")) if node else None
            continue
        properties = node.get("properties", {}) if node else {}
        if part in properties:
            key.append((0, list(properties).index(part)))
            node = _resolve(schema, properties[part])
        else:
            key.append((1, part))
            node = None
    return tuple(key)


def _resolve(schema: Mapping[str, Any], node: Any) -> Mapping[str, Any] | None:
    if not isinstance(node, Mapping):
        return None
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        resolved: Mapping[str, Any] = schema["$defs"][ref.rsplit("/", 1)[1]]
        return resolved
    return node
