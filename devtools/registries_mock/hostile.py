"""Hostile registry events: malformed or malicious values, each with the answer it must get.

``hostile_events`` turns the valid events of a season into ``n`` broken ones (issue 9,
item 6): wrong types, huge numbers, negative money, invalid PINFLs (length, letters,
check digit, look-alike digits), Unicode tricks (right-to-left override, zero-width
characters, homoglyphs, NUL, lone surrogates), 1 MB payloads, deep nesting, invalid
JSON, a Kafka key that is not the event's PINFL, and ids or revisions reused with other
content. Every event carries the dead-letter ``reason_code`` and field the service must
answer (CONTRACT.md, "Dead letters"; the order of checks of
``contracts.registry_events.decode_event``). The makers of ``devtools.registries_mock.faults`` are
used too, so the ordinary faults of a season are part of the mix.

Conflicts reuse an ``event_id`` (or a record's revision) of a valid event given as an
*original*: they are conflicts only once that original has been folded, so publish the
originals first.
"""

from __future__ import annotations

import copy
import json
import random
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from contracts.validation import ValidationPolicy
from devtools.registries_mock import faults
from devtools.registries_mock.faults import Broken, Fault, encode
from devtools.registries_mock.incomes import CONFLICTING_AMOUNT, THOUSAND
from devtools.registries_mock.season import Event

__all__ = ["HOSTILE_MAKERS", "MEGABYTE", "conflict_originals", "hostile_events", "reasons"]

MEGABYTE = 1_000_000  # the size of the biggest payloads (the broker takes up to ~1 MiB)
RTL_OVERRIDE = "\u202e"
ZERO_WIDTH = "\u200b"
# Digits that look like 0-9 but are not ASCII: Arabic-Indic, fullwidth, mathematical bold.
HOMOGLYPH_DIGITS = ("\u0660\u0661\u0662\u0663", "\uff10\uff11\uff12\uff13", "\U0001d7ce\U0001d7cf")
CYRILLIC_LOOKALIKES = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441"}

HostileMaker = Callable[[random.Random, dict[str, Any], ValidationPolicy], Broken | None]


def _broken(
    kind: str, value: dict[str, Any] | None, field: str | None, raw: bytes | None = None
) -> Broken:
    return Broken(value, raw, Fault(kind, kind.split(".", 1)[0], field))


def _with(event: dict[str, Any], **changes: Any) -> dict[str, Any]:
    value = copy.deepcopy(event)
    value.update(changes)
    return value


def _money(event: dict[str, Any]) -> list[str]:
    data = event.get("data") or {}
    return sorted(k for k, v in data.items() if k.endswith("_tiyin") and isinstance(v, int))


def _set_money(
    kind: str, rng: random.Random, event: dict[str, Any], amount: Any, field_code: bool = True
) -> Broken | None:
    names = _money(event)
    if not names:
        return None
    value = copy.deepcopy(event)
    name = rng.choice(names)
    value["data"][name] = amount
    return _broken(kind, value, f"data.{name}" if field_code else None)


# --- wrong types ------------------------------------------------------------------------


def revision_bool(_r: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    """``true`` is no integer here, although Python's bool is an int."""
    return _broken("schema.revision_bool", _with(event, revision=True), "revision")


def revision_float(_r: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    return _broken("schema.revision_float", _with(event, revision=1.0), "revision")


def pinfl_as_number(_r: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    return _broken("schema.pinfl_number", _with(event, pinfl=int(event["pinfl"])), "pinfl")


def pinfl_null(_r: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    return _broken("schema.pinfl_null", _with(event, pinfl=None), "pinfl")


def money_as_string(
    rng: random.Random, event: dict[str, Any], _p: ValidationPolicy
) -> Broken | None:
    names = _money(event)
    if not names:
        return None
    value = copy.deepcopy(event)
    name = rng.choice(names)
    value["data"][name] = f"{value['data'][name]:,}".replace(",", " ")
    return _broken("schema.money_string", value, f"data.{name}")


def money_exponent(
    rng: random.Random, event: dict[str, Any], _p: ValidationPolicy
) -> Broken | None:
    """``1e400`` parses to infinity: a number, never an integer."""
    names = _money(event)
    if not names:
        return None
    name = rng.choice(names)
    text = encode(event).decode()
    needle = f'"{name}":{event["data"][name]}'
    assert needle in text
    raw = text.replace(needle, f'"{name}":1e400', 1).encode()
    return _broken("schema.money_exponent", None, f"data.{name}", raw)


def data_as_array(_r: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken | None:
    if "data" not in event:
        return None
    return _broken("schema.data_array", _with(event, data=list(event["data"].items())), "data")


def value_not_object(rng: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    """Valid JSON, but not an object: an array of events, a string, null, a number."""
    raw = rng.choice(
        (json.dumps([event]).encode(), b'"' + event["pinfl"].encode() + b'"', b"null", b"42")
    )
    return _broken("schema.not_object", None, None, raw)


def duplicate_key(_r: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    """The PINFL twice: which one wins is exactly what an attacker would like to choose."""
    text = encode(event).decode()
    raw = ("{" + f'"pinfl":"{event["pinfl"]}",' + text[1:]).encode()
    return _broken("schema.duplicate_key", None, "pinfl", raw)


# --- huge and negative numbers ----------------------------------------------------------


def money_huge(rng: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken | None:
    amount = rng.choice((2**63, 2**64 + 1, 10**30, int("9" * 39)))
    return _set_money("out_of_range.money_huge", rng, event, amount)


def money_above_ceiling(
    rng: random.Random, event: dict[str, Any], policy: ValidationPolicy
) -> Broken | None:
    if policy.money_ceiling_tiyin >= 2**63 - 1:
        return None
    return _set_money("out_of_range.money_ceiling", rng, event, policy.money_ceiling_tiyin + 1)


def money_negative(
    rng: random.Random, event: dict[str, Any], _p: ValidationPolicy
) -> Broken | None:
    return _set_money("out_of_range.money_negative", rng, event, -rng.randint(1, 10**12))


def number_thousands_of_digits(
    rng: random.Random, event: dict[str, Any], _p: ValidationPolicy
) -> Broken:
    """A 5,000-digit literal: Python's int() refuses it; the reader must not crash."""
    digits = rng.randint(41, 5000)
    text = encode(event).decode()
    needle = f'"revision":{event["revision"]}'
    raw = text.replace(needle, '"revision":' + "9" * digits, 1).encode()
    return _broken("out_of_range.revision_digits", None, "revision", raw)


def revision_negative(rng: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    return _broken(
        "out_of_range.revision_negative", _with(event, revision=-rng.randint(1, 2**40)), "revision"
    )


def revision_int64_overflow(
    _r: random.Random, event: dict[str, Any], _p: ValidationPolicy
) -> Broken:
    return _broken("out_of_range.revision_overflow", _with(event, revision=2**63), "revision")


def tax_year_absurd(
    rng: random.Random, event: dict[str, Any], _p: ValidationPolicy
) -> Broken | None:
    if "tax_year" not in event:
        return None
    year = rng.choice((0, -1, 99_999, 2**62))
    return _broken("out_of_range.tax_year_absurd", _with(event, tax_year=year), "tax_year")


# --- PINFLs -----------------------------------------------------------------------------


def pinfl_homoglyph_digit(
    rng: random.Random, event: dict[str, Any], _p: ValidationPolicy
) -> Broken:
    """A digit that looks like one (Arabic-Indic, fullwidth, math bold): not ASCII."""
    at = rng.randrange(14)
    look = rng.choice(rng.choice(HOMOGLYPH_DIGITS))
    pinfl = event["pinfl"][:at] + look + event["pinfl"][at + 1 :]
    return _broken("bad_pinfl.homoglyph_digit", _with(event, pinfl=pinfl), "pinfl")


def pinfl_zero_width(rng: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    at = rng.randrange(1, 14)
    pinfl = event["pinfl"][:at] + ZERO_WIDTH + event["pinfl"][at:]
    return _broken("bad_pinfl.zero_width", _with(event, pinfl=pinfl), "pinfl")


def pinfl_trailing_newline(
    _r: random.Random, event: dict[str, Any], _p: ValidationPolicy
) -> Broken:
    """13 digits and a newline: 14 characters; Python's ``$`` would match, ECMA's must not."""
    pinfl = event["pinfl"][:13] + "\n"
    return _broken("bad_pinfl.newline", _with(event, pinfl=pinfl), "pinfl")


def pinfl_padded(rng: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    pinfl = rng.choice((" " + event["pinfl"], event["pinfl"] + " ", "0" + event["pinfl"]))
    return _broken("bad_pinfl.padded", _with(event, pinfl=pinfl), "pinfl")


def pinfl_empty(_r: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    return _broken("bad_pinfl.empty", _with(event, pinfl=""), "pinfl")


def pinfl_repeated(
    _r: random.Random, event: dict[str, Any], policy: ValidationPolicy
) -> Broken | None:
    """A keyboard-mash PINFL: 13 ones and a 2 (the check digit would be 1)."""
    if not policy.pinfl_check_digit:
        return None
    return _broken("bad_pinfl.repeated", _with(event, pinfl="1" * 13 + "2"), "pinfl")


# --- Unicode tricks ---------------------------------------------------------------------


def rtl_override_record_id(
    rng: random.Random, event: dict[str, Any], _p: ValidationPolicy
) -> Broken:
    """An RTL override makes ``PAY-1<RLO>2-3`` display as another id."""
    record_id = event["record_id"][:20]
    at = rng.randrange(1, len(record_id))
    value = _with(event, record_id=record_id[:at] + RTL_OVERRIDE + record_id[at:])
    return _broken("schema.rtl_override", value, "record_id")


def zero_width_record_id(rng: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    """Two ids that look the same but are not: a second record the ledger would count."""
    mark = rng.choice((ZERO_WIDTH, "\u200d", "\u2060", "\ufeff"))
    value = _with(event, record_id=event["record_id"][:30] + mark)
    return _broken("schema.zero_width", value, "record_id")


def nul_in_event_id(_r: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    value = _with(event, event_id=event["event_id"][:40] + "\x00")
    return _broken("schema.nul_event_id", value, "event_id")


def nul_raw(rng: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    """A raw NUL byte (or another control byte) inside a JSON string: not JSON."""
    text = encode(event)
    at = text.index(b'"record_id":"') + len(b'"record_id":"')
    raw = text[:at] + rng.choice((b"\x00", b"\x01", b"\x1b", b"\n")) + text[at:]
    return _broken("not_json.control_byte", None, None, raw)


def homoglyph_action(rng: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    """``upsert`` with a Cyrillic р or е: looks right, is not."""
    action = event["action"]
    letters = [i for i, ch in enumerate(action) if ch in CYRILLIC_LOOKALIKES]
    at = rng.choice(letters)
    forged = action[:at] + CYRILLIC_LOOKALIKES[action[at]] + action[at + 1 :]
    return _broken("schema.homoglyph_action", _with(event, action=forged), "action")


def homoglyph_registry(_r: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    """A registry name with a Cyrillic letter names no registry."""
    name = event["registry"]
    for latin, cyrillic in CYRILLIC_LOOKALIKES.items():
        if latin in name:
            value = _with(event, registry=name.replace(latin, cyrillic, 1))
            return _broken("unknown_registry.homoglyph", value, "registry")
    value = _with(event, registry=name + ZERO_WIDTH)
    return _broken("unknown_registry.homoglyph", value, "registry")


def homoglyph_key(_r: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    """``pіnfl`` (Cyrillic і) as a key: the real ``pinfl`` is then missing."""
    value = copy.deepcopy(event)
    value["p\u0456nfl"] = value.pop("pinfl")
    return _broken("schema.homoglyph_key", value, "pinfl")


def homoglyph_digit_month(
    rng: random.Random, event: dict[str, Any], _p: ValidationPolicy
) -> Broken | None:
    data = event.get("data") or {}
    dates = sorted(
        k for k, v in data.items() if k.endswith(("_date", "_on")) and isinstance(v, str)
    )
    if not dates:
        return None
    value = copy.deepcopy(event)
    name = rng.choice(dates)
    day = value["data"][name]
    value["data"][name] = day[:5] + "\uff10" + day[6:]  # a fullwidth zero in the month
    return _broken("schema.homoglyph_date", value, f"data.{name}")


def lone_surrogate(_r: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    """``\\ud800`` escaped in a string: valid JSON syntax, not a Unicode character."""
    text = encode(event).decode()
    needle = f'"record_id":"{event["record_id"]}"'
    raw = text.replace(needle, f'"record_id":"{event["record_id"][:20]}\\ud800"', 1).encode()
    return _broken("not_json.lone_surrogate", None, "record_id", raw)


def bad_utf8(rng: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    """Latin-1 bytes, an overlong encoding of '/', or a stray continuation byte."""
    text = encode(event)
    at = text.index(b'"record_id":"') + len(b'"record_id":"')
    raw = text[:at] + rng.choice((b"\xe9", b"\xc0\xaf", b"\x80", b"\xff\xfe")) + text[at:]
    return _broken("not_json.bad_utf8", None, None, raw)


# --- size and nesting -------------------------------------------------------------------


def megabyte(rng: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    """A 1 MB event (a scanned contract pasted into a field)."""
    value = copy.deepcopy(event)
    value["record_id"] = "A" * (MEGABYTE - len(encode(event)) - rng.randint(0, 1000))
    return _broken("too_large.megabyte", value, None, encode(value))


def deep_nesting(rng: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    """``data`` nested 9 to 25,000 levels deep (the deepest overflow a recursive reader)."""
    depth = rng.choice((9, 12, 100, 1000, 25_000))
    text = encode({k: v for k, v in event.items() if k != "data"}).decode()
    raw = (text[:-1] + ',"data":' + "[" * depth + "1" + "]" * depth + "}").encode()
    return _broken("schema.deep_nesting", None, None, raw)


def too_many_values(rng: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    """A small message with thousands of values (a decompression-bomb shape)."""
    value = _with(event, data=[0] * rng.randint(1100, 20_000))
    return _broken("schema.too_many_values", value, None, encode(value))


def long_string(rng: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    """A 40 kB record_id: under the size limit, over the field's."""
    value = _with(event, record_id="R" * rng.randint(65, 40_000))
    return _broken("schema.long_string", value, "record_id")


# --- invalid JSON -----------------------------------------------------------------------


def trailing_garbage(rng: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    tail = rng.choice((b",", b"}", b" {}", b"\x00", b"\n{}"))
    return _broken("not_json.trailing", None, None, encode(event) + tail)


def js_literals(rng: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    text = encode(event).decode()
    needle = f'"revision":{event["revision"]}'
    literal = rng.choice(("Infinity", "-Infinity", "NaN", "undefined", "0x10", "01"))
    return _broken(
        "not_json.literal", None, None, text.replace(needle, f'"revision":{literal}').encode()
    )


def trailing_comma(_r: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    return _broken("not_json.trailing_comma", None, None, encode(event)[:-1] + b",}")


def sql_and_script(rng: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    """Injection strings where ids go: refused by the id patterns, never interpreted."""
    probe = rng.choice(
        (
            "1' OR '1'='1",
            "x'; DROP TABLE returns;--",
            "<script>alert(1)</script>",
            "${jndi:ldap://x/a}",
            "../../etc/passwd",
        )
    )
    return _broken("schema.injection", _with(event, event_id=probe), "event_id")


# --- the Kafka key ----------------------------------------------------------------------


def key_of_another(rng: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    """Marker only: ``hostile_events`` publishes the event under another taxpayer's key."""
    return _broken("schema.key_mismatch", copy.deepcopy(event), "key")


HOSTILE_MAKERS: dict[str, HostileMaker] = {
    **{kind: maker for kind, maker in faults.MAKERS.items()},
    "schema.revision_bool": revision_bool,
    "schema.revision_float": revision_float,
    "schema.pinfl_number": pinfl_as_number,
    "schema.pinfl_null": pinfl_null,
    "schema.money_string": money_as_string,
    "schema.money_exponent": money_exponent,
    "schema.data_array": data_as_array,
    "schema.not_object": value_not_object,
    "schema.duplicate_key": duplicate_key,
    "out_of_range.money_huge": money_huge,
    "out_of_range.money_ceiling": money_above_ceiling,
    "out_of_range.money_negative": money_negative,
    "out_of_range.revision_digits": number_thousands_of_digits,
    "out_of_range.revision_negative": revision_negative,
    "out_of_range.revision_overflow": revision_int64_overflow,
    "out_of_range.tax_year_absurd": tax_year_absurd,
    "bad_pinfl.homoglyph_digit": pinfl_homoglyph_digit,
    "bad_pinfl.zero_width": pinfl_zero_width,
    "bad_pinfl.newline": pinfl_trailing_newline,
    "bad_pinfl.padded": pinfl_padded,
    "bad_pinfl.empty": pinfl_empty,
    "bad_pinfl.repeated": pinfl_repeated,
    "schema.rtl_override": rtl_override_record_id,
    "schema.zero_width": zero_width_record_id,
    "schema.nul_event_id": nul_in_event_id,
    "not_json.control_byte": nul_raw,
    "schema.homoglyph_action": homoglyph_action,
    "unknown_registry.homoglyph": homoglyph_registry,
    "schema.homoglyph_key": homoglyph_key,
    "schema.homoglyph_date": homoglyph_digit_month,
    "not_json.lone_surrogate": lone_surrogate,
    "not_json.bad_utf8": bad_utf8,
    "too_large.megabyte": megabyte,
    "schema.deep_nesting": deep_nesting,
    "schema.too_many_values": too_many_values,
    "schema.long_string": long_string,
    "not_json.trailing": trailing_garbage,
    "not_json.literal": js_literals,
    "not_json.trailing_comma": trailing_comma,
    "schema.injection": sql_and_script,
    "schema.key_mismatch": key_of_another,
}
# Big events are few: their bytes cross the broker twice (event and dead letter).
RARE = {"too_large.megabyte": 0.0005, "too_large.attachment": 0.005}
CONFLICT_ID = Fault("conflict.event_id_reused", "conflict", "event_id")
CONFLICT_REVISION = Fault("conflict.revision_reused", "conflict", "revision")
CONFLICT_SHARE = 0.05
MEGABYTE_EVENTS = 3  # always this many 1 MB events (the first ones)


def conflict_originals(events: Sequence[Event]) -> list[Event]:
    """Valid income upserts whose record has one event only (no other revision, no void):
    reusing their id or revision is a conflict whatever else arrives around them."""
    distinct = {e.event_id: e.value for e in events if e.value is not None}
    per_record = Counter(
        (value["registry"], value["record_id"]) for value in distinct.values() if value
    )
    return [
        e
        for e in events
        if e.fault is None
        and e.value is not None
        and e.topic_registry != "population"
        and e.value["action"] == "upsert"
        and per_record[(e.value["registry"], e.value["record_id"])] == 1
    ]


def hostile_events(
    n: int,
    valid: Sequence[Event],
    originals: Sequence[Event],
    policy: ValidationPolicy,
    *,
    seed: int = 9,
    id_prefix: str = "hostile",
) -> list[Event]:
    """``n`` hostile events made from ``valid`` events (templates) and ``originals``
    (published before: the ones conflicts reuse), each with its expected ``fault``."""
    if n < 1:
        raise ValueError("n must be at least 1")
    templates = [e for e in valid if e.fault is None and e.value is not None]
    if not templates:
        raise ValueError("hostile events need valid events to start from")
    rng = random.Random(f"hostile:{seed}")
    kinds = list(HOSTILE_MAKERS)
    weights = [RARE.get(kind, 1.0) for kind in kinds]
    keys = sorted({e.key for e in templates})
    conflict_from = conflict_originals(originals)
    made: list[Event] = []
    serial = 0
    while len(made) < n:
        if conflict_from and rng.random() < CONFLICT_SHARE:
            made.append(_conflict(rng, rng.choice(conflict_from), f"{id_prefix}-c{serial:06d}"))
            serial += 1
            continue
        kind = (
            rng.choices(kinds, weights)[0] if len(made) >= MEGABYTE_EVENTS else "too_large.megabyte"
        )
        source = rng.choice(templates)
        assert source.value is not None
        fresh = dict(source.value, event_id=f"{id_prefix}-{serial:06d}")
        serial += 1
        broken = HOSTILE_MAKERS[kind](rng, fresh, policy)
        if broken is None:
            continue  # the kind does not apply to this registry
        key = source.key
        if broken.value is not None and isinstance(broken.value.get("pinfl"), str):
            key = broken.value["pinfl"]
        if kind == "schema.key_mismatch":
            key = rng.choice([k for k in keys if k != source.key] or ["00000000000000"])
        made.append(Event(source.topic_registry, key, broken.value, broken.raw, broken.fault))
    return made


def _conflict(rng: random.Random, original: Event, new_id: str) -> Event:
    """The original's event_id with other content, or its revision with other data."""
    value = original.value
    assert value is not None
    other = copy.deepcopy(value)
    other["data"][CONFLICTING_AMOUNT[value["registry"]]] += THOUSAND * rng.randint(1, 9)
    if rng.random() < 0.5:
        return Event(original.topic_registry, original.key, other, None, CONFLICT_ID)
    other["event_id"] = new_id
    return Event(original.topic_registry, original.key, other, None, CONFLICT_REVISION)


def reasons(events: Sequence[Event]) -> Counter[str]:
    """How many events must get each reason_code."""
    return Counter(e.fault.reason_code for e in events if e.fault is not None)
