"""The ``registry.<registry>.receipts.v1`` value (contracts/schemas/registry.receipts.v1.json)
and the sentences a receipt, a dead letter and the HTTP API share.

A message holds the receipts of one batch of one partition (``{"receipts": [...]}``, at most
``RECEIPTS_PER_MESSAGE``), in the order the events were processed. A receipt carries no
personal data: the event's ids, a status, the reason and a time.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from contracts.deadletters import MAX_FIELD_CHARS, MAX_REASON_CHARS, REASON_CODES
from contracts.strict_json import parse_json

STATUSES = frozenset({"accepted", "duplicate", "superseded", "dead_lettered", "already_closed"})
_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_RECORD_ID = re.compile(r"[^\x00-\x1f\x7f-\x9f]{1,64}")
EVENT_ID_CONFLICT = "This event_id was already used with different content."
# ≈ 250 bytes a receipt: a message stays far below the broker's 1 MB message limit
RECEIPTS_PER_MESSAGE = 1000


def receipts_message(receipts: list[bytes]) -> bytes:
    """One message of receipts (each already ``receipt_value`` bytes)."""
    return b'{"receipts":[' + b",".join(receipts) + b"]}"


def revision_conflict(revision: int, record_id: str, other_event_id: str) -> str:
    """The reused revision, in the HTTP 409 and the stream's ``conflict`` dead letter alike."""
    return (
        f"Revision {revision} of record {record_id!r} was already accepted with other content "
        f"(event_id {other_event_id!r}); publish the change as a higher revision."
    )


def superseded_by(revision: int, event_id: str) -> str:
    return f"Revision {revision} (event_id {event_id!r}) replaced this revision."


def stale(held_revision: int, held_event_id: str) -> str:
    return (
        f"Revision {held_revision} (event_id {held_event_id!r}) of this record is held already; "
        "an older revision changes nothing."
    )


def already_closed(tax_year: int, closed_at: str) -> str:
    return (
        f"Tax year {tax_year} was already closed by this registry (closed_at {closed_at}); "
        "the first close counts and this one changes nothing."
    )


def valid_event_id(value: Any) -> str | None:
    return value if isinstance(value, str) and _ID.fullmatch(value) else None


MAX_REVISION = 2**63 - 1  # the schemas' bound; a larger one would not even encode (orjson)


def ids_of(raw: bytes | None) -> tuple[str | None, str | None, int | None]:
    """(event_id, record_id, revision) of a refused event, each when it is readable and
    well-formed; a receipt is written only when the event_id is."""
    try:
        value = parse_json(raw or b"")
    except ValueError:
        return None, None, None
    if not isinstance(value, dict):
        return None, None, None
    record_id = value.get("record_id")
    revision = value.get("revision")
    return (
        valid_event_id(value.get("event_id")),
        record_id if isinstance(record_id, str) and _RECORD_ID.fullmatch(record_id) else None,
        revision
        if isinstance(revision, int)
        and not isinstance(revision, bool)
        and 1 <= revision <= MAX_REVISION
        else None,
    )


def receipt_value(
    *,
    event_id: str,
    registry: str,
    record_id: str | None,
    revision: int | None,
    status: str,
    at: str,
    reason: str | None = None,
    reason_code: str | None = None,
    field: str | None = None,
) -> bytes:
    if status not in STATUSES:
        raise ValueError(f"unknown receipt status {status!r}")
    if reason_code is not None and reason_code not in REASON_CODES:
        raise ValueError(f"unknown reason_code {reason_code!r}")
    return orjson.dumps(
        {
            "event_id": event_id,
            "registry": registry,
            "record_id": record_id,
            "revision": revision,
            "status": status,
            "reason_code": reason_code,
            "field": None if field is None else field[:MAX_FIELD_CHARS],
            "reason": None if not reason else reason[:MAX_REASON_CHARS],
            "at": at,
        }
    )
