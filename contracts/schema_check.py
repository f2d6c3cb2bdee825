"""The schema files and the checks against them: jsonschema (the reference, which explains
every failure) and a fast yes/no predicate compiled from the same file for the topics off
the registry hot path (registry events are checked by ``contracts.typed_events``).

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

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"


# --- schema files -----------------------------------------------------------------------


def schema_path(topic: str) -> Path:
    return SCHEMA_DIR / f"{topic}.json"


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


# A fast yes/no check compiled from the same schema file. Most events are valid: they are
# accepted by this check alone; jsonschema (the reference) runs only to explain a failure.
# tests/unit/contracts keep the two in agreement (a differential hypothesis test).

_Check = Callable[[Any], bool]
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$defs", "$comment", "title", "description", "examples", "format"}
)


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(type(a) is type(b) or (_is_number(a) and _is_number(b))) and a == b


_PLAIN = (str, int, float)  # not bool: True == 1 in Python, never in JSON


def _equals_any(values: Sequence[Any]) -> _Check:
    """``const``/``enum``: a set lookup when every value is a string or an integer (all of
    ours on the hot path: registry, action, schema_version), JSON equality otherwise. In
    a set, 1.0 finds 1 as JSON equality wants, and "1" does not."""
    if all(type(v) in (str, int) for v in values):
        members = frozenset(values)
        return lambda x: type(x) in _PLAIN and x in members
    return lambda x: any(_json_equal(x, v) for v in values)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


_TYPES: dict[str, _Check] = {
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "string": lambda x: isinstance(x, str),
    "integer": lambda x: isinstance(x, int) and not isinstance(x, bool),
    "number": _is_number,
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
}


@functools.cache
def fast_check(topic: str) -> _Check:
    """``topic``'s schema compiled into one predicate (True = valid)."""
    schema = load_schema(topic)
    return _compile(schema, schema, {})


def _compile(node: Any, root: Mapping[str, Any], refs: dict[str, _Check]) -> _Check:
    if node is True:
        return lambda x: True
    if node is False:
        return lambda x: False
    checks: list[_Check] = []
    for key, val in node.items():
        if key in _ANNOTATIONS or key in ("then", "else"):
            continue
        checks.append(_keyword(key, val, node, root, refs))
    return _all_of(checks)


def _all_of(checks: Sequence[_Check]) -> _Check:
    if len(checks) == 1:
        return checks[0]
    frozen = tuple(checks)

    def run(x: Any) -> bool:
        for check in frozen:
            if not check(x):
                return False
        return True

    return run


def _keyword(  # one branch per JSON Schema keyword the files use
    key: str, val: Any, node: Mapping[str, Any], root: Mapping[str, Any], refs: dict[str, _Check]
) -> _Check:
    if key == "$ref":
        name = val.removeprefix("#/$defs/")
        if name not in refs:
            refs[name] = _compile(root["$defs"][name], root, refs)
        return refs[name]
    if key == "type":
        tests = [_TYPES[t] for t in (val if isinstance(val, list) else [val])]
        if len(tests) == 1:
            return tests[0]
        return lambda x: any(t(x) for t in tests)
    if key == "const":
        return _equals_any([val])
    if key == "enum":
        return _equals_any(val)
    if key == "properties":
        subs = tuple((name, _compile(sub, root, refs)) for name, sub in val.items())

        def properties(x: Any) -> bool:
            if isinstance(x, dict):
                for name, check in subs:
                    if name in x and not check(x[name]):
                        return False
            return True

        return properties
    if key == "required":
        names = frozenset(val)
        return lambda x: not isinstance(x, dict) or names <= x.keys()
    if key == "additionalProperties":
        known = frozenset(node.get("properties", {}))
        if node.get("patternProperties"):
            raise ValueError("patternProperties is not supported by the fast check")
        if val is False:
            return lambda x: not isinstance(x, dict) or x.keys() <= known
        extra = _compile(val, root, refs)
        return lambda x: (
            not isinstance(x, dict) or all(extra(v) for k, v in x.items() if k not in known)
        )
    if key == "propertyNames":
        name_check = _compile(val, root, refs)
        return lambda x: not isinstance(x, dict) or all(name_check(k) for k in x)
    if key == "items":
        item = _compile(val, root, refs)
        return lambda x: not isinstance(x, list) or all(item(v) for v in x)
    if key == "minItems":
        return lambda x: not isinstance(x, list) or len(x) >= val
    if key == "maxItems":
        return lambda x: not isinstance(x, list) or len(x) <= val
    if key == "pattern":
        search = _pattern(val).search
        return lambda x: not isinstance(x, str) or search(x) is not None
    if key == "minLength":
        return lambda x: not isinstance(x, str) or len(x) >= val
    if key == "maxLength":
        return lambda x: not isinstance(x, str) or len(x) <= val
    if key == "minimum":
        return lambda x: not _is_number(x) or x >= val
    if key == "maximum":
        return lambda x: not _is_number(x) or x <= val
    if key == "allOf":
        return _all_of([_compile(sub, root, refs) for sub in val])
    if key == "not":
        inner = _compile(val, root, refs)
        return lambda x: not inner(x)
    if key == "if":
        test = _compile(val, root, refs)
        then = _compile(node.get("then", True), root, refs)
        other = _compile(node.get("else", True), root, refs)
        return lambda x: then(x) if test(x) else other(x)
    raise ValueError(f"the fast check does not know the keyword {key!r}")


# --- schema errors as problems ----------------------------------------------------------


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
