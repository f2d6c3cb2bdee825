"""When is a tax year ready for its first returns? (CONTRACT.md, "Completeness watermark")

Pure rules here; the faust wiring is in ``agents/period_closed.py``. A year is *released*
once every registry of the configured set has closed it, or at the cut-off date (default
1 February of the following year, Tashkent time), whichever comes first. Before release
the ledger folds events without computing; at release every ledger of the year is
computed; after release every change recomputes at once.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Any

from contracts.registry_events import EventRejected
from contracts.topics import REGISTRIES

TASHKENT_OFFSET_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
PERIOD_CLOSED_FIELDS = frozenset(
    {"event_id", "registry", "schema_version", "tax_year", "closed_at"}
)


def cutoff_date(tax_year: int, month_day: str) -> date:
    month, day = (int(part) for part in month_day.split("-"))
    return date(tax_year + 1, month, day)


def years_past_cutoff(today: date, tax_years: range, month_day: str) -> list[int]:
    return [year for year in tax_years if today >= cutoff_date(year, month_day)]


def is_complete(closed_registries: set[str] | frozenset[str], required: frozenset[str]) -> bool:
    return required <= set(closed_registries)


def release_key(tax_year: int, partition: int) -> str:
    return f"{tax_year}:{partition}"


def decode_period_closed(raw: bytes | None, key: bytes | None, tax_years: range) -> dict[str, Any]:
    """Validate a ``registry.period_closed.v1`` value; raise EventRejected with a reason."""
    try:
        value = json.loads(raw or b"")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EventRejected("not_json", f"The value is not UTF-8 JSON: {exc}.") from exc
    if not isinstance(value, dict):
        raise EventRejected("schema", "The value must be a JSON object.")
    unknown = sorted(set(value) - PERIOD_CLOSED_FIELDS)
    if unknown:
        raise EventRejected("schema", f"Unknown field {unknown[0]!r}.", unknown[0])
    for field in sorted(PERIOD_CLOSED_FIELDS):
        if field not in value:
            raise EventRejected("schema", f"{field} is required.", field)
    registry = value["registry"]
    if registry not in REGISTRIES or registry == "population":
        raise EventRejected(
            "unknown_registry", f"No income registry is called {registry!r}.", "registry"
        )
    if key is not None and key != registry.encode():
        raise EventRejected("schema", "The Kafka key must be the registry name.", "key")
    if value["schema_version"] != 1:
        raise EventRejected("schema", "schema_version must be 1.", "schema_version")
    year = value["tax_year"]
    if not isinstance(year, int) or isinstance(year, bool):
        raise EventRejected("schema", "tax_year must be an integer.", "tax_year")
    if year not in tax_years:
        raise EventRejected(
            "out_of_range",
            f"tax_year {year} is outside {tax_years.start}-{tax_years.stop - 1}.",
            "tax_year",
        )
    closed_at = value["closed_at"]
    if not isinstance(closed_at, str) or not TASHKENT_OFFSET_RE.match(closed_at):
        raise EventRejected("schema", "closed_at must be RFC 3339 with an offset.", "closed_at")
    datetime.fromisoformat(closed_at.replace("Z", "+00:00"))
    return value
