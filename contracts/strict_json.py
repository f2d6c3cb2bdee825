"""The strict JSON reader of registry events: UTF-8 only, no NaN/Infinity, no duplicate keys,
no lone surrogates, nesting at most ``MAX_DEPTH`` deep and at most ``MAX_VALUES`` values.

Bounded: a body of 5,000 ``[`` is a ``schema`` problem, never a ``RecursionError``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from contracts.problems import EventRejected, Problem, dotted

MAX_DEPTH = 8  # registry events nest 3 deep; anything deeper is junk
MAX_VALUES = 1024  # JSON values (objects, arrays, scalars) in one event
_HUGE_DIGITS = 40  # integer literals longer than this are read as +-10**40 (out of range)


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


# Strings (skipped whole, escapes included), brackets and commas: the structure of a JSON
# text, read without recursion. Linear; used before any recursive parser sees the bytes.
_STRUCTURE = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},]', re.DOTALL)
_OPEN = frozenset(b"[{")
_CLOSE = frozenset(b"]}")
_QUOTE = ord('"')
_COMMA = ord(",")


def too_deep_at(raw: bytes, limit: int) -> int | None:
    """Where ``raw`` first nests deeper than ``limit`` levels, or None.

    The answer is the index of the top-level array element that does (0 when ``raw`` is not
    an array). A scan, not a parse: it stops at the first level too deep, so its cost is
    bounded by the bytes before that point, and no recursion is involved.
    """
    depth = 0
    element = 0
    for match in _STRUCTURE.finditer(raw):
        char = raw[match.start()]
        if char == _QUOTE:
            continue
        if char in _OPEN:
            depth += 1
            if depth > limit:
                return element
        elif char in _CLOSE:
            depth -= 1
        elif depth == 1:  # a comma of the outermost array or object
            element += 1
    return None


def array_elements(raw: bytes, limit: int) -> tuple[list[bytes], int | None]:
    """The elements of the top-level array ``raw`` as bytes, found without parsing them, and
    the offset just after the array's closing bracket (None when there is none).

    The scan stops in the first element that nests deeper than ``limit`` levels (counting
    the array): that element is returned cut where it goes too deep (so the strict parser
    says so) and nothing after it is read. The elements are not checked: each goes to
    ``parse_json``.
    """
    elements: list[bytes] = []
    depth = 0
    start = -1
    for match in _STRUCTURE.finditer(raw):
        at = match.start()
        char = raw[at]
        if char == _QUOTE:
            continue
        if char in _OPEN:
            depth += 1
            if depth == 1:
                start = match.end()
            elif depth > limit:
                elements.append(raw[start : match.end()].strip())
                return elements, None
        elif char in _CLOSE:
            depth -= 1
            if depth == 0:
                last = raw[start:at].strip()
                if last or elements:
                    elements.append(last)
                return elements, match.end()
        elif depth == 1:
            elements.append(raw[start:at].strip())
            start = match.end()
    if start >= 0:
        elements.append(raw[start:].strip())
    return elements, None


def parse_json(raw: bytes) -> Any:
    """Strict UTF-8 JSON; raises EventRejected (not_json, or schema for duplicates/depth).

    Bounded: nesting is measured before parsing (``too_deep_at``), so no recursive parser
    ever sees a body deeper than ``MAX_DEPTH``; huge integer literals are not converted.
    """
    if too_deep_at(raw, MAX_DEPTH) is not None:
        raise _too_deep()
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
