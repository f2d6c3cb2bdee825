"""Broken events, each with the dead-letter ``reason_code`` (and field) it must get.

Every maker takes a valid registry event (a dict, not modified) and returns the broken
event: its JSON object (None when the bytes are no JSON object), its exact bytes when
they are not simply that object's JSON, and the expected outcome. The outcome follows
``contracts/registry_events.decode_event``'s documented order of checks; the unit tests in
``tests/unit/mock`` hold every maker to it. ``conflict`` (an ``event_id`` reused with
other content) is not made here: only the ledger or the ingest API can see it, so the
season builder places it after the event whose id it reuses.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import random
from collections.abc import Callable
from typing import Any

from contracts.validation import ValidationPolicy

MONEY_SUFFIX = "_tiyin"
TIN_FIELDS = {
    "payroll": "employer_tin",
    "dividend": "payer_tin",
    "deduction": "provider_tin",
}
DATE_IN_YEAR_FIELDS = {
    "property_sale": "sale_date",
    "dividend": "paid_on",
    "deduction": "paid_on",
}


@dataclasses.dataclass(frozen=True, slots=True)
class Fault:
    """What a broken event is and what the service must answer."""

    kind: str  # "<reason_code>.<what>", e.g. "schema.unknown_field"
    reason_code: str  # dead-letter reason_code (CONTRACT.md) the service must give
    field: str | None  # the field it must name; None = the event as a whole


@dataclasses.dataclass(frozen=True, slots=True)
class Broken:
    value: dict[str, Any] | None
    raw: bytes | None
    fault: Fault


def encode(value: dict[str, Any]) -> bytes:
    """The bytes a registry publishes for an event: compact UTF-8 JSON."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


Maker = Callable[[random.Random, dict[str, Any], ValidationPolicy], Broken | None]


def _money_fields(value: dict[str, Any]) -> list[str]:
    data = value.get("data") or {}
    return [k for k, v in data.items() if k.endswith(MONEY_SUFFIX) and isinstance(v, int)]


def _broken(
    kind: str, value: dict[str, Any] | None, field: str | None, raw: bytes | None = None
) -> Broken:
    return Broken(value, raw, Fault(kind, kind.split(".", 1)[0], field))


# --- not JSON ---------------------------------------------------------------------------


def truncated(rng: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    """Cut off in transit: no closing brace, maybe half a UTF-8 character."""
    raw = encode(event)
    return _broken("not_json.truncated", None, None, raw[: rng.randint(1, len(raw) - 1)])


def python_repr(_r: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    """A Python dict printed instead of serialised (single quotes)."""
    return _broken("not_json.python_repr", None, None, repr(event).encode())


def byte_order_mark(_r: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    """A Windows tool's UTF-8 byte order mark before the JSON."""
    return _broken("not_json.bom", None, None, b"\xef\xbb\xbf" + encode(event))


def nan_amount(rng: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken | None:
    """A spreadsheet export wrote NaN for a missing amount."""
    fields = _money_fields(event)
    if not fields:
        return None
    value = copy.deepcopy(event)
    value["data"][rng.choice(fields)] = float("nan")
    return _broken("not_json.nan", None, None, json.dumps(value, ensure_ascii=False).encode())


def empty(_r: random.Random, _e: dict[str, Any], _p: ValidationPolicy) -> Broken:
    return _broken("not_json.empty", None, None, b"")


# --- schema -----------------------------------------------------------------------------


def missing_field(rng: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    value = copy.deepcopy(event)
    data = value.get("data")
    if data and rng.random() < 0.8:
        name = rng.choice(sorted(data))
        del data[name]
        return _broken("schema.missing_field", value, f"data.{name}")
    name = rng.choice(("occurred_at", "record_id", "revision", "schema_version"))
    del value[name]
    return _broken("schema.missing_field", value, name)


def wrong_type(rng: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    """A number sent as a string, or with a decimal point."""
    value = copy.deepcopy(event)
    fields = _money_fields(value)
    if fields and rng.random() < 0.7:
        name = rng.choice(fields)
        amount = value["data"][name]
        value["data"][name] = str(amount) if rng.random() < 0.5 else amount / 100
        return _broken("schema.wrong_type", value, f"data.{name}")
    value["revision"] = str(value["revision"])
    return _broken("schema.wrong_type", value, "revision")


def unknown_field(rng: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    value = copy.deepcopy(event)
    if value.get("data") and rng.random() < 0.6:
        value["data"]["bonus_tiyin"] = 100_000 * 100
        return _broken("schema.unknown_field", value, "data.bonus_tiyin")
    value["comment"] = "resent after the system upgrade"
    return _broken("schema.unknown_field", value, "comment")


def bad_tin(rng: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken | None:
    name = TIN_FIELDS.get(event["registry"])
    if name is None or not event.get("data"):
        return None
    value = copy.deepcopy(event)
    good = value["data"][name]
    value["data"][name] = good[:8] if rng.random() < 0.5 else good[:4] + "O" + good[5:]
    return _broken("schema.bad_tin", value, f"data.{name}")


def bad_date_format(
    rng: random.Random, event: dict[str, Any], _p: ValidationPolicy
) -> Broken | None:
    data = event.get("data") or {}
    names = [k for k, v in data.items() if k.endswith(("_date", "_on")) and isinstance(v, str)]
    if not names:
        return None
    value = copy.deepcopy(event)
    name = rng.choice(sorted(names))
    year, month, day = value["data"][name].split("-")
    value["data"][name] = f"{day}.{month}.{year}"
    return _broken("schema.date_format", value, f"data.{name}")


def other_registry(rng: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    """The right registry name on the wrong topic (a copy-paste in the gateway)."""
    from contracts.topics import REGISTRIES

    value = copy.deepcopy(event)
    value["registry"] = rng.choice([r for r in REGISTRIES if r != event["registry"]])
    return _broken("schema.wrong_registry", value, "registry")


def unknown_registry(rng: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    value = copy.deepcopy(event)
    value["registry"] = rng.choice((event["registry"][:-1], event["registry"] + "_v2", "tax"))
    return _broken("unknown_registry.name", value, "registry")


# --- PINFL ------------------------------------------------------------------------------


def pinfl_length(rng: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    value = copy.deepcopy(event)
    cut = rng.randrange(14)
    value["pinfl"] = value["pinfl"][:cut] + value["pinfl"][cut + 1 :]
    return _broken("bad_pinfl.length", value, "pinfl")


def pinfl_letter(rng: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    value = copy.deepcopy(event)
    at = rng.randrange(14)
    value["pinfl"] = value["pinfl"][:at] + "O" + value["pinfl"][at + 1 :]
    return _broken("bad_pinfl.letter", value, "pinfl")


def _wrong_check_digit(pinfl: str) -> str:
    return pinfl[:13] + str((int(pinfl[13]) + 1 + (int(pinfl[12]) % 8)) % 10)


def pinfl_check_digit(
    _r: random.Random, event: dict[str, Any], policy: ValidationPolicy
) -> Broken | None:
    if not policy.pinfl_check_digit:
        return None
    value = copy.deepcopy(event)
    value["pinfl"] = _wrong_check_digit(value["pinfl"])
    return _broken("bad_pinfl.check_digit", value, "pinfl")


def beneficiary_check_digit(
    _r: random.Random, event: dict[str, Any], policy: ValidationPolicy
) -> Broken | None:
    if event["registry"] != "deduction" or not event.get("data") or not policy.pinfl_check_digit:
        return None
    value = copy.deepcopy(event)
    data = value["data"]
    data["beneficiary_pinfl"] = _wrong_check_digit(data["beneficiary_pinfl"])
    return _broken("bad_pinfl.beneficiary", value, "data.beneficiary_pinfl")


# --- out of range -----------------------------------------------------------------------


def negative_money(
    rng: random.Random, event: dict[str, Any], _p: ValidationPolicy
) -> Broken | None:
    fields = [f for f in _money_fields(event) if event["data"][f] > 0]
    if not fields:
        return None
    value = copy.deepcopy(event)
    name = rng.choice(fields)
    value["data"][name] = -value["data"][name]  # a refund sent as a negative amount
    return _broken("out_of_range.negative", value, f"data.{name}")


def month_13(_r: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken | None:
    if event["registry"] != "payroll" or not event.get("data"):
        return None
    value = copy.deepcopy(event)
    value["data"]["month"] = 13  # a "13th salary" filed as month 13
    return _broken("out_of_range.month", value, "data.month")


def tax_year_outside(
    rng: random.Random, event: dict[str, Any], policy: ValidationPolicy
) -> Broken | None:
    if "tax_year" not in event:
        return None
    value = copy.deepcopy(event)
    years = policy.tax_years
    below = years.start - rng.randint(1, 5)
    value["tax_year"] = (
        below if rng.random() < 0.5 and below >= 1900 else years.stop + rng.randint(0, 4)
    )
    return _broken("out_of_range.tax_year", value, "tax_year")


def date_outside_year(
    rng: random.Random, event: dict[str, Any], _p: ValidationPolicy
) -> Broken | None:
    name = DATE_IN_YEAR_FIELDS.get(event["registry"])
    if name is None or not event.get("data"):
        return None
    value = copy.deepcopy(event)
    day = value["data"][name]
    value["data"][name] = f"{int(day[:4]) - 1}{day[4:]}".replace("-02-29", "-02-28")
    return _broken("out_of_range.date_outside_year", value, f"data.{name}")


def revision_zero(_r: random.Random, event: dict[str, Any], _p: ValidationPolicy) -> Broken:
    value = copy.deepcopy(event)
    value["revision"] = 0
    return _broken("out_of_range.revision", value, "revision")


# --- size -------------------------------------------------------------------------------


def oversized(rng: random.Random, event: dict[str, Any], policy: ValidationPolicy) -> Broken:
    """A scanned document attached to the event: over the per-event limit."""
    value = copy.deepcopy(event)
    size = policy.max_event_bytes + rng.randint(1, 32 * 1024)
    value["attachment_base64"] = base64.b64encode(rng.randbytes(size * 3 // 4 + 3)).decode()
    return _broken("too_large.attachment", value, None, encode(value))


MAKERS: dict[str, Maker] = {
    "not_json.truncated": truncated,
    "not_json.python_repr": python_repr,
    "not_json.bom": byte_order_mark,
    "not_json.nan": nan_amount,
    "not_json.empty": empty,
    "schema.missing_field": missing_field,
    "schema.wrong_type": wrong_type,
    "schema.unknown_field": unknown_field,
    "schema.bad_tin": bad_tin,
    "schema.date_format": bad_date_format,
    "schema.wrong_registry": other_registry,
    "unknown_registry.name": unknown_registry,
    "bad_pinfl.length": pinfl_length,
    "bad_pinfl.letter": pinfl_letter,
    "bad_pinfl.check_digit": pinfl_check_digit,
    "bad_pinfl.beneficiary": beneficiary_check_digit,
    "out_of_range.negative": negative_money,
    "out_of_range.month": month_13,
    "out_of_range.tax_year": tax_year_outside,
    "out_of_range.date_outside_year": date_outside_year,
    "out_of_range.revision": revision_zero,
    "too_large.attachment": oversized,
}
CONFLICT = Fault("conflict.event_id_reused", "conflict", "event_id")
FAULT_KINDS = (*MAKERS, CONFLICT.kind)
