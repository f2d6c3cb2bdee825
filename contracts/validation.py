"""Schema files, a strict JSON reader and validator, and dead-letter reasons for registry events.

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
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
INT64_MAX = 2**63 - 1
MAX_DEPTH = 8  # registry events nest 3 deep; anything deeper is junk
MAX_VALUES = 1024  # JSON values (objects, arrays, scalars) in one event
_HUGE_DIGITS = 40  # integer literals longer than this are read as +-10**40 (out of range)
DATE_MIN = dt.date(1900, 1, 1)
LEASE_END_MAX = dt.date(2100, 12, 31)
OWN_BENEFIT_KINDS = ("mortgage", "voluntary_pension", "investment_account")
PINFL_WEIGHTS = (7, 3, 1)

RANGE_KEYWORDS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})
SHAPE_KEYWORDS = frozenset({"pattern", "minLength", "maxLength"})
_KEYWORD_ORDER = {
    "required": 0,
    "additionalProperties": 1,
    "not": 2,  # {"not": {}}: the field must be absent
    "type": 3,
    "const": 4,
    "enum": 4,
    "minLength": 5,
    "maxLength": 5,
    "pattern": 6,
}


class EventRejected(ValueError):
    """An event that goes to the dead letters: reason_code, a human sentence, the field."""

    def __init__(self, reason_code: str, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason_code = reason_code
        self.reason = reason
        self.field = field

    def __repr__(self) -> str:
        return f"EventRejected({self.reason_code!r}, {self.reason!r}, {self.field!r})"


@dataclasses.dataclass(frozen=True, slots=True)
class ValidationPolicy:
    """What the service accepts beyond the schema; built from settings once per process."""

    tax_years: range
    pinfl_check_digit: bool = True
    max_event_bytes: int = 65536
    money_ceiling_tiyin: int = 10**15

    def __post_init__(self) -> None:
        if not self.tax_years or self.tax_years.step != 1:
            raise ValueError(f"tax_years must be a non-empty range of years: {self.tax_years}")
        if self.max_event_bytes < 1:
            raise ValueError("max_event_bytes must be at least 1")
        if not 0 <= self.money_ceiling_tiyin <= INT64_MAX:
            raise ValueError(f"money_ceiling_tiyin must be within 0..{INT64_MAX}")

    @classmethod
    def from_settings(cls, settings: Any) -> ValidationPolicy:
        """From ``proactax.settings.Settings`` (typed as Any: contracts import no settings)."""
        return cls(
            tax_years=range(settings.tax_year_min, settings.tax_year_max + 1),
            pinfl_check_digit=settings.pinfl_check_digit,
            max_event_bytes=settings.max_event_bytes,
            money_ceiling_tiyin=settings.money_ceiling_tiyin,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    reason_code: str
    field: str | None
    reason: str
    path: tuple[str | int, ...] = ()

    def rejected(self) -> EventRejected:
        return EventRejected(self.reason_code, self.reason, self.field)


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


# --- strict JSON ------------------------------------------------------------------------


class _DuplicateKeys(dict[str, Any]):
    """An object in which a key occurred twice (the first repeated key is kept)."""

    __slots__ = ("duplicate",)
    duplicate: str


class _NotJson(ValueError):
    pass


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            flagged = _DuplicateKeys(obj)
            flagged.duplicate = key
            return flagged
        seen.add(key)
    return obj  # pragma: no cover - unreachable


def _int(text: str) -> int:
    digits = len(text) - (text[0] == "-")
    if digits > _HUGE_DIGITS:  # beyond any range; int() of huge literals is slow or refused
        return -(10**_HUGE_DIGITS) if text[0] == "-" else 10**_HUGE_DIGITS
    return int(text)


def _constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON number")


def parse_json(raw: bytes) -> Any:
    """Strict UTF-8 JSON; raises EventRejected (not_json, or schema for duplicates/depth)."""
    try:
        text = raw.decode("utf-8")
        value = json.loads(
            text, object_pairs_hook=_object, parse_int=_int, parse_constant=_constant
        )
    except UnicodeDecodeError as exc:
        raise EventRejected(
            "not_json", f"The value is not valid UTF-8 (byte {exc.start}).", None
        ) from None
    except _NotJson as exc:
        raise EventRejected("not_json", f"The value is not valid JSON: {exc}.", None) from None
    except json.JSONDecodeError as exc:
        raise EventRejected(
            "not_json", f"The value is not valid JSON: {exc.msg} at character {exc.pos}.", None
        ) from None
    except RecursionError:
        raise _too_deep() from None
    problem = _inspect(value)
    if problem is not None:
        raise problem.rejected()
    return value


def _too_deep() -> EventRejected:
    return EventRejected("schema", f"The JSON nests deeper than {MAX_DEPTH} levels.", None)


def _inspect(value: Any) -> Problem | None:
    """Nesting, size, duplicate keys and lone surrogates, in document order."""
    budget = [MAX_VALUES - 1]

    def walk(node: Any, path: tuple[str | int, ...]) -> Problem | None:
        if len(path) >= MAX_DEPTH:
            raise _too_deep()
        budget[0] -= len(node)
        if budget[0] < 0:
            return Problem("schema", None, f"The JSON holds more than {MAX_VALUES} values.")
        if isinstance(node, dict):
            if isinstance(node, _DuplicateKeys):
                where = (*path, node.duplicate)
                return Problem(
                    "schema",
                    dotted(where),
                    f"{dotted(where)} occurs twice in one object; every key must be unique.",
                    where,
                )
            items: Iterable[tuple[str | int, Any]] = node.items()
        else:
            items = enumerate(node)
        for key, item in items:
            if isinstance(key, str) and not key.isascii() and _has_surrogate(key):
                return _surrogate_problem(path)
            if isinstance(item, str):
                if not item.isascii() and _has_surrogate(item):
                    return _surrogate_problem((*path, key))
            elif isinstance(item, dict | list):
                found = walk(item, (*path, key))
                if found is not None:
                    return found
        return None

    if isinstance(value, dict | list):
        return walk(value, ())
    if isinstance(value, str) and not value.isascii() and _has_surrogate(value):
        return _surrogate_problem(())
    return None


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _surrogate_problem(path: tuple[str | int, ...]) -> Problem:
    return Problem(
        "not_json",
        dotted(path) if path else None,
        "The value holds an unpaired UTF-16 surrogate escape (\\ud800-\\udfff), which is not"
        " a Unicode character.",
        path,
    )


def dotted(path: Sequence[str | int]) -> str:
    """``("data", "month")`` -> ``data.month``; unknown keys are cut to 64 characters."""
    return ".".join(str(p) if len(str(p)) <= 64 else f"{str(p)[:64]}..." for p in path)


# --- schema errors as problems ----------------------------------------------------------


def schema_problem(value: Any, topic: str, money_ceiling: int | None = None) -> Problem | None:
    """The first (contract order) schema violation of ``value`` against ``topic``'s schema."""
    if fast_check(topic)(value):
        return None
    errors = list(validator(topic).iter_errors(value))
    if not errors:  # the reference has the last word (the two are tested to agree)
        return None
    schema = load_schema(topic)
    pinfl_def = schema.get("$defs", {}).get("pinfl")
    candidates: list[tuple[Any, int, Problem]] = []
    for error in errors:
        for problem in _translate(error, topic, pinfl_def, money_ceiling):
            order = _KEYWORD_ORDER.get(error.validator, 7)
            candidates.append((rank(schema, problem.path), order, problem))
    candidates.sort(key=lambda c: (c[0], c[1], c[2].reason))
    return candidates[0][2]


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


def _translate(
    error: Any, topic: str, pinfl_def: Any, money_ceiling: int | None
) -> Iterator[Problem]:
    path = tuple(error.absolute_path)
    keyword = error.validator
    instance = error.instance
    if keyword == "required":
        for name in error.validator_value:
            if isinstance(instance, dict) and name not in instance:
                where = (*path, name)
                extra = " (an upsert carries the record's data)" if where == ("data",) else ""
                yield Problem(
                    "schema", dotted(where), f"{dotted(where)} is required{extra}.", where
                )
        return
    if keyword == "additionalProperties" and isinstance(instance, dict):
        known = error.schema.get("properties", {})
        for name in sorted(k for k in instance if k not in known):
            shown = dotted((*path, name))
            yield Problem(
                "schema",
                shown,
                f"{shown} is not a field of {topic}; unknown fields are rejected.",
                (*path, name),
            )
        return
    field = dotted(path) if path else None
    name = field or "The value"
    if keyword == "not":  # {"not": {}}: the field must be absent (a void's data)
        why = " when action is 'void' (a void carries no data)" if path == ("data",) else " here"
        yield Problem("schema", field, f"{name} must be left out{why}.", path)
        return
    if keyword in RANGE_KEYWORDS:
        bound = error.validator_value
        if keyword in ("maximum", "exclusiveMaximum"):
            money = str(path[-1] if path else "").endswith("_tiyin")
            if money and money_ceiling is not None:
                bound = min(bound, money_ceiling)
            text = f"{name} is too large: at most {bound}{' tiyin' if money else ''}"
        else:
            text = f"{name} is too small: at least {bound}"
        yield Problem("out_of_range", field, text + ".", path)
        return
    if keyword == "type":
        expected = error.validator_value
        wanted = " or ".join(expected) if isinstance(expected, list) else expected
        hint = (
            " (a whole number without a decimal point or exponent)" if "integer" in wanted else ""
        )
        yield Problem(
            "schema",
            field,
            f"{name} must be {_article(wanted)}{hint}; got {_kind(instance)}.",
            path,
        )
        return
    if keyword == "const":
        expected = error.validator_value
        tail = " (the topic's registry)" if path == ("registry",) else ""
        yield Problem("schema", field, f"{name} must be {json.dumps(expected)}{tail}.", path)
        return
    if keyword == "enum":
        options = ", ".join(str(o) for o in error.validator_value)
        yield Problem("schema", field, f"{name} must be one of: {options}.", path)
        return
    code = "schema"
    if keyword in SHAPE_KEYWORDS and pinfl_def is not None and error.schema == pinfl_def:
        code = "bad_pinfl"
    description = error.schema.get("description")
    if keyword in SHAPE_KEYWORDS and description:
        text = f"{name} must be {description}"
    elif keyword == "minLength":
        text = f"{name} must be at least {error.validator_value} characters"
    elif keyword == "maxLength":
        text = f"{name} must be at most {error.validator_value} characters"
    elif keyword == "pattern":
        text = f"{name} must match the pattern {error.validator_value}"
    else:
        text = f"{name} is invalid ({keyword})"
    if isinstance(instance, str):
        text += f"; got {_describe_string(instance)}"
    yield Problem(code, field, text + ".", path)


def _article(type_name: str) -> str:
    return ("an " if type_name[:1] in "aeiou" else "a ") + type_name


def _kind(instance: Any) -> str:
    if isinstance(instance, bool):
        return "true/false"
    if instance is None:
        return "null"
    if isinstance(instance, int):
        return "an integer"
    if isinstance(instance, float):
        return "a number with a decimal point or exponent"
    if isinstance(instance, str):
        return "a string"
    if isinstance(instance, list):
        return "an array"
    return "an object"


def _describe_string(text: str) -> str:
    described = f"{len(text)} character{'' if len(text) == 1 else 's'}"
    if text != text.strip():
        described += ", with leading or trailing whitespace"
    for position, char in enumerate(text):
        if not (char.isascii() and char.isprintable()) or (char.isspace() and char != " "):
            name = unicodedata.name(char, "a control character")
            described += f", with U+{ord(char):04X} ({name}) at position {position + 1}"
            break
    return described


# --- value rules (after the schema passed) ---------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _DataFields:
    money: tuple[str, ...]
    dates: tuple[str, ...]
    pinfls: tuple[tuple[str, tuple[str, str] | None], ...]  # (field, (when-field, equals))


@functools.cache
def data_fields(registry: str) -> _DataFields:
    """Money, date and PINFL fields of a registry's data, read from its schema."""
    schema = load_schema(f"registry.{registry}.v1")
    data = schema["properties"]["data"]
    money: list[str] = []
    dates: list[str] = []
    pinfls: list[tuple[str, tuple[str, str] | None]] = []
    for name, node in data["properties"].items():
        ref = str(node.get("$ref", "")).rsplit("/", 1)[-1]
        if ref in ("tiyin", "tiyin_or_null"):
            money.append(name)
        elif ref == "date":
            dates.append(name)
        elif ref == "pinfl":
            pinfls.append((name, None))
    for rule in data.get("allOf", ()):
        condition = rule.get("if", {}).get("properties", {})
        then = rule.get("then", {}).get("properties", {})
        for name, node in then.items():
            if str(node.get("$ref", "")).endswith("/pinfl") and len(condition) == 1:
                ((when, test),) = condition.items()
                pinfls.append((name, (when, test["const"])))
    return _DataFields(tuple(money), tuple(dates), tuple(pinfls))


def pinfl_check_digit_ok(pinfl: str) -> bool:
    total = sum(int(d) * PINFL_WEIGHTS[i % 3] for i, d in enumerate(pinfl[:13]))
    return total % 10 == int(pinfl[13])


def value_problem(value: Mapping[str, Any], policy: ValidationPolicy) -> Problem | None:
    """The first (contract order) value rule a schema-valid registry event breaks."""
    problems = list(_value_problems(value, policy))
    if not problems:
        return None
    schema = load_schema(f"registry.{value['registry']}.v1")
    return min(enumerate(problems), key=lambda p: (rank(schema, p[1].path), p[0]))[1]


def _value_problems(value: Mapping[str, Any], policy: ValidationPolicy) -> Iterator[Problem]:
    registry = value["registry"]
    pinfl = value["pinfl"]
    if policy.pinfl_check_digit and not pinfl_check_digit_ok(pinfl):
        yield _bad_check_digit(("pinfl",))
    occurred = _datetime(value["occurred_at"])
    if occurred is None:
        yield Problem(
            "out_of_range",
            "occurred_at",
            "occurred_at is not a real date and time (month, day, hour, minute or offset out"
            " of range).",
            ("occurred_at",),
        )
    elif occurred.year < DATE_MIN.year:
        yield Problem(
            "out_of_range", "occurred_at", "occurred_at is before 1900.", ("occurred_at",)
        )
    tax_year: int | None = value.get("tax_year")
    years = policy.tax_years
    if tax_year is not None and tax_year not in years:
        yield Problem(
            "out_of_range",
            "tax_year",
            f"tax_year {tax_year} is outside the accepted years {years.start}-{years.stop - 1}.",
            ("tax_year",),
        )
    data = value.get("data")
    if data is None:
        return
    fields = data_fields(registry)
    for name in fields.money:
        amount = data[name]
        if amount is not None and amount > policy.money_ceiling_tiyin:
            yield _out_of_range(name, f"is too large: at most {policy.money_ceiling_tiyin} tiyin")
    if policy.pinfl_check_digit:
        for name, condition in fields.pinfls:
            if condition is None or data.get(condition[0]) == condition[1]:
                if not pinfl_check_digit_ok(data[name]):
                    yield _bad_check_digit(("data", name))
    latest = dt.date(years.stop - 1 if tax_year is None else tax_year + 1, 12, 31)
    dates: dict[str, dt.date] = {}
    for name in fields.dates:
        parsed = _date(data[name])
        if parsed is None:
            yield _out_of_range(name, "is not a calendar date")
            continue
        high = LEASE_END_MAX if (registry, name) == ("rental", "end_date") else latest
        if not DATE_MIN <= parsed <= high:
            yield _out_of_range(name, f"must be from {DATE_MIN} to {high}")
            continue
        dates[name] = parsed
    check = _RULES.get(registry)
    if check is not None:
        yield from check(data, dates, tax_year, pinfl)


def _out_of_range(name: str, what: str) -> Problem:
    return Problem("out_of_range", f"data.{name}", f"data.{name} {what}.", ("data", name))


def _bad_check_digit(path: tuple[str, ...]) -> Problem:
    field = dotted(path)
    return Problem(
        "bad_pinfl",
        field,
        f"{field} fails the PINFL check digit: the 14th digit must equal the sum of digits"
        " 1-13 weighted 7,3,1 repeating, mod 10. Check for a typo.",
        path,
    )


def _datetime(text: str) -> dt.datetime | None:
    if text[17:19] == "60":  # RFC 3339 allows a leap second; Python does not
        text = text[:17] + "59" + text[19:]
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


_Rule = Callable[[Mapping[str, Any], dict[str, dt.date], Any, str], Iterator[Problem]]


def _in_year(name: str, dates: dict[str, dt.date], tax_year: int) -> Iterator[Problem]:
    day = dates.get(name)
    if day is not None and day.year != tax_year:
        yield _out_of_range(name, f"falls outside tax_year {tax_year}")


def _payroll(
    data: Mapping[str, Any], _d: dict[str, dt.date], _y: Any, _p: str
) -> Iterator[Problem]:
    if data["exempt_at_source_tiyin"] > data["gross_income_tiyin"]:
        yield _out_of_range("exempt_at_source_tiyin", "exceeds data.gross_income_tiyin")


def _rental(
    data: Mapping[str, Any], dates: dict[str, dt.date], year: Any, _p: str
) -> Iterator[Problem]:
    start, end = dates.get("start_date"), dates.get("end_date")
    if start is not None and start.year > year:
        yield _out_of_range("start_date", f"is after tax_year {year}: the lease must overlap it")
    if end is not None and end.year < year:
        yield _out_of_range("end_date", f"is before tax_year {year}: the lease must overlap it")
    if start is not None and end is not None and end < start:
        yield _out_of_range("end_date", "is before data.start_date")
    if data["tenant_kind"] == "individual" and data["pit_withheld_tiyin"] != 0:
        yield _out_of_range("pit_withheld_tiyin", "must be 0 for an individual tenant")


def _property_sale(
    data: Mapping[str, Any], dates: dict[str, dt.date], year: Any, _p: str
) -> Iterator[Problem]:
    yield from _in_year("sale_date", dates, year)
    sale, bought = dates.get("sale_date"), dates.get("acquisition_date")
    if sale is not None and bought is not None and bought > sale:
        yield _out_of_range("acquisition_date", "is after data.sale_date")


def _dividend(
    data: Mapping[str, Any], dates: dict[str, dt.date], year: Any, _p: str
) -> Iterator[Problem]:
    yield from _in_year("paid_on", dates, year)
    if data["pit_withheld_tiyin"] > data["gross_tiyin"]:
        yield _out_of_range("pit_withheld_tiyin", "exceeds data.gross_tiyin")


def _deduction(
    data: Mapping[str, Any], dates: dict[str, dt.date], year: Any, pinfl: str
) -> Iterator[Problem]:
    yield from _in_year("paid_on", dates, year)
    if data["kind"] in OWN_BENEFIT_KINDS and data["beneficiary_pinfl"] != pinfl:
        yield Problem(
            "bad_pinfl",
            "data.beneficiary_pinfl",
            f"data.beneficiary_pinfl must be the taxpayer's own pinfl for kind {data['kind']}"
            " (only tuition and preschool are paid for someone else).",
            ("data", "beneficiary_pinfl"),
        )


_RULES: dict[str, _Rule] = {
    "payroll": _payroll,
    "rental": _rental,
    "property_sale": _property_sale,
    "dividend": _dividend,
    "deduction": _deduction,
}
