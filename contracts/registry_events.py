"""Decoding and first-line validation of ``registry.<name>.v1`` events (CONTRACT.md).

A decoded event is a ``RegistryEvent``; anything else raises ``EventRejected`` carrying a
dead-letter ``reason_code`` from the contract, a human sentence and the field at fault.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from typing import Any

from contracts.topics import REGISTRIES

MAX_EVENT_BYTES = 64 * 1024
_EVENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_PINFL = re.compile(r"^[0-9]{14}$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
ENVELOPE_FIELDS = frozenset(
    {
        "event_id",
        "registry",
        "schema_version",
        "record_id",
        "revision",
        "action",
        "occurred_at",
        "pinfl",
        "tax_year",
        "data",
    }
)


class EventRejected(ValueError):
    def __init__(self, reason_code: str, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason_code = reason_code
        self.reason = reason
        self.field = field


@dataclasses.dataclass(frozen=True, slots=True)
class RegistryEvent:
    event_id: str
    registry: str
    record_id: str
    revision: int
    action: str  # "upsert" | "void"
    occurred_at: str
    pinfl: str
    tax_year: int | None
    data: dict[str, Any] | None
    content_digest: str  # sha256 of the canonical event: tells a replay from a conflict


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def decode_event(raw: bytes | None, topic_registry: str, tax_years: range) -> RegistryEvent:
    """Decode one raw Kafka value from the topic of ``topic_registry``; raise EventRejected."""
    if raw is None:
        raise EventRejected("schema", "The message has no value.", None)
    if len(raw) > MAX_EVENT_BYTES:
        raise EventRejected("too_large", f"The event is over {MAX_EVENT_BYTES} bytes.", None)
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EventRejected("not_json", f"The value is not UTF-8 JSON: {exc}.", None) from exc
    if not isinstance(value, dict):
        raise EventRejected("schema", "The value must be a JSON object.", None)
    unknown = sorted(set(value) - ENVELOPE_FIELDS)
    if unknown:
        raise EventRejected("schema", f"Unknown envelope field {unknown[0]!r}.", unknown[0])

    event_id = _require(value, "event_id", str)
    if not _EVENT_ID.match(event_id):
        raise EventRejected("schema", "event_id must be 1-64 of [A-Za-z0-9._:-].", "event_id")
    registry = _require(value, "registry", str)
    if registry not in REGISTRIES:
        raise EventRejected("unknown_registry", f"No registry is called {registry!r}.", "registry")
    if registry != topic_registry:
        raise EventRejected(
            "schema",
            f"registry {registry!r} does not match the topic's {topic_registry!r}.",
            "registry",
        )
    if _require(value, "schema_version", int) != 1:
        raise EventRejected("schema", "schema_version must be 1.", "schema_version")
    record_id = _require(value, "record_id", str)
    if not 1 <= len(record_id) <= 64:
        raise EventRejected("schema", "record_id must be 1-64 characters.", "record_id")
    revision = _require(value, "revision", int)
    if revision < 1:
        raise EventRejected("out_of_range", "revision must be 1 or more.", "revision")
    action = _require(value, "action", str)
    if action not in ("upsert", "void"):
        raise EventRejected("schema", "action must be 'upsert' or 'void'.", "action")
    occurred_at = _require(value, "occurred_at", str)
    if not _RFC3339.match(occurred_at):
        raise EventRejected("schema", "occurred_at must be RFC 3339 with an offset.", "occurred_at")
    pinfl = _require(value, "pinfl", str)
    if not _PINFL.match(pinfl):
        raise EventRejected("bad_pinfl", "pinfl must be exactly 14 digits.", "pinfl")

    tax_year: int | None = None
    if registry != "population":
        tax_year = _require(value, "tax_year", int)
        if tax_year not in tax_years:
            raise EventRejected(
                "out_of_range",
                f"tax_year {tax_year} is outside {tax_years.start}-{tax_years.stop - 1}.",
                "tax_year",
            )
    elif "tax_year" in value:
        raise EventRejected("schema", "population events carry no tax_year.", "tax_year")

    data = value.get("data")
    if action == "upsert":
        if not isinstance(data, dict):
            raise EventRejected("schema", "An upsert needs a data object.", "data")
    elif data is not None:
        raise EventRejected("schema", "A void carries no data.", "data")

    return RegistryEvent(
        event_id=event_id,
        registry=registry,
        record_id=record_id,
        revision=revision,
        action=action,
        occurred_at=occurred_at,
        pinfl=pinfl,
        tax_year=tax_year,
        data=data,
        content_digest=hashlib.sha256(canonical_json(value)).hexdigest(),
    )


def _require(value: dict[str, Any], field: str, kind: type) -> Any:
    if field not in value:
        raise EventRejected("schema", f"{field} is required.", field)
    item = value[field]
    # bool is an int in Python; the contract's integers are never booleans.
    if not isinstance(item, kind) or (kind is int and isinstance(item, bool)):
        raise EventRejected("schema", f"{field} must be a {kind.__name__}.", field)
    return item
