"""The ``registry.deadletter.v1`` value (CONTRACT.md, "Dead letters")."""

from __future__ import annotations

import base64
import json

REASON_CODES = frozenset(
    {"not_json", "schema", "unknown_registry", "bad_pinfl", "too_large", "out_of_range", "conflict"}
)


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
            "reason": reason,
            "field": field,
            "raw_base64": base64.b64encode(raw or b"").decode("ascii"),
        },
        ensure_ascii=False,
    ).encode()
