"""The strict JSON reader of registry events: UTF-8 only, no NaN/Infinity, no duplicate keys,
no lone surrogates, nesting at most ``MAX_DEPTH`` deep and at most ``MAX_VALUES`` values.

Bounded: a body of 5,000 ``[`` is a ``schema`` problem, never a ``RecursionError``."""

from __future__ import annotations

import json
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
