"""``registry.period_closed.v1``: a registry says it has sent every event of a tax year
(CONTRACT.md, "Completeness watermark"). Decoded the same way by the stream
(agents/period_closed.py) and the HTTP year close (portal/services/year_close.py).
"""

from __future__ import annotations

from typing import Any

from contracts.topics import PERIOD_CLOSED
from contracts.validation import EventRejected, parse_json, schema_problem


def decode_period_closed(raw: bytes | None, key: bytes | None, tax_years: range) -> dict[str, Any]:
    """Validate a ``registry.period_closed.v1`` value against its schema file, then the
    tax-year window and the key; raise EventRejected with a dead-letter reason."""
    value = parse_json(raw or b"")
    problem = schema_problem(value, PERIOD_CLOSED)
    if problem is not None:
        raise problem.rejected()
    if key is not None and key != value["registry"].encode():
        raise EventRejected("schema", "The Kafka key must be the registry name.", "key")
    year = value["tax_year"]
    if year not in tax_years:
        raise EventRejected(
            "out_of_range",
            f"tax_year {year} is outside {tax_years.start}-{tax_years.stop - 1}.",
            "tax_year",
        )
    return dict(value)
