"""Deterministic identifiers: the same fact always gets the same id, so a replay after a
crash produces the same notice, payment or dispute and the receivers can drop the copy.

Ids follow the contracts' ``id`` pattern: 1-64 characters of ``A-Za-z0-9._:-``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

MAX_ID = 64


def _digest(*parts: object, length: int = 32) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:length]


def notice_id(kind: str, return_id: str, version: int, occasion: str = "") -> str:
    """``<kind>:<return_id>:<version>[:<occasion>]``; hashed when that is over 64 characters.

    At most one notice per (return version, kind, occasion): the occasion tells apart the
    notices of one kind a version can have (reminder d30/d7/d1, one receipt per payment).
    """
    readable = f"{kind}:{return_id}:{version}" + (f":{occasion}" if occasion else "")
    if len(readable) <= MAX_ID:
        return readable
    return f"{kind[:20]}:{_digest(readable, length=40)}"


def payment_key(return_id: str, version: int, kind: str, attempt: int) -> str:
    """The gateway idempotency key: one per (return, version), a new one per attempt after
    a decline (a declined key stays declined), refunds apart from payments."""
    base = f"{return_id}:{version}"
    if kind == "refund":
        base += ":refund"
    return base if attempt == 1 else f"{base}:{attempt}"


def payment_id(idempotency_key: str) -> str:
    return f"pay-{_digest(idempotency_key)}"


def dispute_id(
    return_id: str,
    version: int,
    line_code: str,
    subject: str,
    registry: str,
    record_id: str,
    revision: int,
) -> str:
    """One dispute per (return version, disputed line, registry record behind it)."""
    return f"dsp-{_digest(return_id, version, line_code, subject, registry, record_id, revision)}"


def decision_id(
    return_id: str, version: int, decision: str, lines: Iterable[Mapping[str, Any]] = ()
) -> str:
    """The default id of a decision: its content (return, version, choice, lines), so the
    same decision submitted twice, from any channel, is recognised as one."""
    canonical = json.dumps(
        sorted(
            (
                str(line.get("code", "")),
                str(line.get("subject", "")),
                str(line.get("reason_code", "")),
                str(line.get("comment", "")),
            )
            for line in lines
        ),
        ensure_ascii=False,
    )
    return f"dec-{_digest(return_id, version, decision, canonical)}"
