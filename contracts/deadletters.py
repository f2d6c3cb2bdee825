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
    return json.dumps(
        {
            "source_topic": source_topic,
            "source_partition": source_partition,
            "source_offset": source_offset,
            "received_at": received_at,
            "reason_code": reason_code,
            "reason": _cut(reason, MAX_REASON_CHARS) or reason_code,
            "field": None if field is None else _cut(field, MAX_FIELD_CHARS),
            "raw_base64": base64.b64encode(raw or b"").decode("ascii"),
        },
        ensure_ascii=False,
    ).encode()
