"""The ``returns.v1`` value (CONTRACT.md "Returns"): a computed return on the wire.

``to_returns_v1`` turns a ``tax.TaxReturn`` into the exact contract shape plus a few
additional fields (the contract allows additions, never changes of meaning):
``declaration_reasons``, ``totals.tax_withheld_tiyin``,
``totals.inps_offset_credited_tiyin``, ``totals.gross_by_category`` and, per line,
``label_key``, ``subject``, ``parameters`` and ``computation``.

``disputable`` is the one rule for which lines a taxpayer may dispute: the state machine
(decisions.v1), the bot and the cabinet all ask it.

``content_fingerprint`` digests everything except ``computed_at``, ``version`` and
``return_id``: the stream emits a new version only when the fingerprint changes.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:  # contracts stay light: the return is only read through attributes
    from tax.model import TaxReturn

NOT_CONTENT = frozenset({"computed_at", "version", "return_id"})
# Lines that come straight from registry records; the rest (base, tax, credit, result)
# are computed from them: a taxpayer disputes the lines they come from. A disputed line
# without a registry record goes to STC review (docs/lifecycle.md).
DISPUTABLE_PREFIXES = ("employment.", "rental.", "property_sale.", "dividend.", "exempt_use.")


def disputable(code: str) -> bool:
    """May a taxpayer dispute a ``returns.v1`` line with this code? (Else decisions.v1
    refuses it: ``line_not_disputable``.)"""
    return code.startswith(DISPUTABLE_PREFIXES)


def to_returns_v1(
    tax_return: TaxReturn, *, return_id: str, version: int, computed_at: str
) -> dict[str, Any]:
    totals = tax_return.totals
    return {
        "return_id": return_id,
        "pinfl": tax_return.pinfl,
        "tax_year": tax_return.tax_year,
        "version": version,
        "computed_at": computed_at,
        "rules_version": tax_return.rules_version,
        "reproducibility_hash": tax_return.reproducibility_hash,
        "declaration_required": tax_return.declaration_required,
        "declaration_reasons": list(tax_return.declaration_reasons),
        "totals": {
            "gross_income_tiyin": totals.gross_income_tiyin,
            "exempt_income_tiyin": totals.exempt_income_tiyin,
            "taxable_income_tiyin": totals.taxable_income_tiyin,
            "tax_computed_tiyin": totals.tax_computed_tiyin,
            "tax_credited_tiyin": totals.tax_credited_tiyin,
            "balance_tiyin": totals.balance_tiyin,
            "tax_withheld_tiyin": totals.tax_withheld_tiyin,
            "inps_offset_credited_tiyin": totals.inps_offset_credited_tiyin,
            "gross_by_category": dict(totals.gross_by_category),
        },
        "deadlines": {
            "declaration": tax_return.declaration_deadline.isoformat(),
            "payment": tax_return.payment_deadline.isoformat(),
        },
        "lines": [
            {
                "code": line.code,
                "label_key": line.label_key,
                "subject": line.subject,
                "amount_tiyin": line.amount_tiyin,
                "legal_reference": line.legal_reference,
                "sources": [
                    {"registry": s.registry, "record_id": s.record_id, "revision": s.revision}
                    for s in line.sources
                ],
                "parameters": dict(line.parameters),
                "computation": line.computation,
            }
            for line in tax_return.lines
        ],
    }


def canonical_bytes(content: Any) -> bytes:
    """The canonical JSON: sorted keys, no spaces, UTF-8. Stored fingerprints depend on
    these exact bytes; orjson writes the same ones as the standard library for everything
    a return holds (tests/unit/test_returns_fingerprint.py) and is ~10x faster; anything
    it refuses (an integer beyond 64 bits) goes the slow way."""
    try:
        return orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return canonical_bytes_stdlib(content)


def canonical_bytes_stdlib(content: Any) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_fingerprint(value: dict[str, Any]) -> str:
    """sha256 hex of the canonical JSON of ``value`` minus computed_at, version, return_id."""
    content = {k: v for k, v in value.items() if k not in NOT_CONTENT}
    return hashlib.sha256(canonical_bytes(content)).hexdigest()
