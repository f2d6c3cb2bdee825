"""Turns a ledger into the next ``returns.v1`` version, or None when nothing changed."""

from __future__ import annotations

import uuid
from typing import Any

from agents.ledger import Ledger, Published, active_records
from contracts.returns_v1 import content_fingerprint, to_returns_v1
from tax import compute_return, facts_from_records

_RETURN_IDS = uuid.UUID("5b0f6f2e-6c1a-4c53-9f0e-7d1b3f8a2c11")


def return_id(pinfl: str, tax_year: int) -> str:
    """Stable across versions and restarts: one return per taxpayer and year."""
    return str(uuid.uuid5(_RETURN_IDS, f"{pinfl}:{tax_year}"))


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
