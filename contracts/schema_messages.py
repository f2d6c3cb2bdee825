"""jsonschema errors as dead-letter problems: the reason_code and a sentence an integrator can
act on, for each keyword the schema files use."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from typing import Any

from contracts.problems import Problem, dotted

RANGE_KEYWORDS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})
SHAPE_KEYWORDS = frozenset({"pattern", "minLength", "maxLength"})
KEYWORD_ORDER = {
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


def translate(
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
