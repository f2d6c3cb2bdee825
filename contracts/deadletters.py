"""The ``registry.deadletter.v1`` value (CONTRACT.md, "Dead letters").

Its schema is ``contracts/schemas/registry.deadletter.v1.json``; a test keeps
``REASON_CODES`` equal to the schema's enum and every value built here valid against it.
"""

from __future__ import annotations

import base64
import json

REASON_CODES = frozenset(
    {"not_json", "schema", "unknown_registry", "bad_pinfl", "too_large", "out_of_range", "conflict"}
)
MAX_REASON_CHARS = 2000  # the schema's maxLength of reason
MAX_FIELD_CHARS = 256  # the schema's maxLength of field
# raw_base64 keeps at most this many bytes of the event: a 1 MB event's dead letter would
# otherwise be ~1.4 MB, over the broker's and the producer's message limit (~1 MB), and
# the agent could not write it: the partition would stop on that event for ever.
MAX_RAW_BYTES = 512 * 1024


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def deadletter_value(
    *,
    source_topic: str,
    source_partition: int,
    source_offset: int,
    received_at: str,
    reason_code: str,
    reason: str,
    field: str | None,
    raw: bytes | None,
) -> bytes:
    if reason_code not in REASON_CODES:
        raise ValueError(f"unknown dead-letter reason_code {reason_code!r}")
    raw = raw or b""
    if len(raw) > MAX_RAW_BYTES:
        note = f" raw_base64 holds the first {MAX_RAW_BYTES} of its {len(raw)} bytes."
        reason = _cut(reason, MAX_REASON_CHARS - len(note)) + note
        raw = raw[:MAX_RAW_BYTES]
    return json.dumps(
        {
            "source_topic": source_topic,
            "source_partition": source_partition,
            "source_offset": source_offset,
            "received_at": received_at,
            "reason_code": reason_code,
            "reason": _cut(reason, MAX_REASON_CHARS) or reason_code,
            "field": None if field is None else _cut(field, MAX_FIELD_CHARS),
            "raw_base64": base64.b64encode(raw).decode("ascii"),
        },
        ensure_ascii=False,
    ).encode()
