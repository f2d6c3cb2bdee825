"""Turns a ledger into the next ``returns.v1`` version, or None when nothing changed."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from agents.ledger import Ledger, Published, active_records
from contracts.returns_v1 import content_fingerprint, to_returns_v1
from tax import compute_return, facts_from_records

_RETURN_IDS = uuid.UUID("5b0f6f2e-6c1a-4c53-9f0e-7d1b3f8a2c11")
_NAMESPACE = _RETURN_IDS.bytes


def return_id(pinfl: str, tax_year: int) -> str:
    """Stable across versions and restarts: one return per taxpayer and year.

    ``uuid.uuid5(_RETURN_IDS, "<pinfl>:<year>")``, written out (RFC 4122 § 4.3: SHA-1 of
    the namespace's bytes and the name, version 5, the RFC's variant): ``uuid5`` builds
    a ``UUID`` object and checks it, 5 µs a return where this takes 1."""
    name = _NAMESPACE + f"{pinfl}:{tax_year}".encode()
    digest = bytearray(hashlib.sha1(name, usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _compute(
    pinfl: str, tax_year: int, ledger: Ledger, parameters: Any, computed_at: str, version: int
) -> dict[str, Any]:
    facts = facts_from_records(pinfl, tax_year, active_records(ledger))
    tax_return = compute_return(facts, parameters, tax_year)
    return to_returns_v1(
        tax_return, return_id=return_id(pinfl, tax_year), version=version, computed_at=computed_at
    )


def next_version(
    pinfl: str,
    tax_year: int,
    ledger: Ledger,
    published: Published,
    parameters: Any,
    computed_at: str,
) -> dict[str, Any] | None:
    """Compute the return; a new version (``published`` moves to it) only if the content
    changed since the last one published, else None."""
    value = _compute(pinfl, tax_year, ledger, parameters, computed_at, published["version"] + 1)
    fingerprint = content_fingerprint(value)
    if fingerprint == published["fingerprint"]:
        return None
    published["version"] += 1
    published["fingerprint"] = fingerprint
    return value
