"""When is a tax year ready for its first returns? (CONTRACT.md, "Completeness watermark")

Pure rules here; the faust wiring is in ``agents/period_closed.py``. A year is *released*
once every registry of the configured set has closed it, or at the cut-off date (default
1 February of the following year, Tashkent time), whichever comes first. Before release
the ledger folds events without computing; at release every ledger of the year is
computed; after release every change recomputes at once.
"""

from __future__ import annotations

from datetime import date


def cutoff_date(tax_year: int, month_day: str) -> date:
    month, day = (int(part) for part in month_day.split("-"))
    return date(tax_year + 1, month, day)


def years_past_cutoff(today: date, tax_years: range, month_day: str) -> list[int]:
    return [year for year in tax_years if today >= cutoff_date(year, month_day)]


def is_complete(closed_registries: set[str] | frozenset[str], required: frozenset[str]) -> bool:
    return required <= set(closed_registries)


def release_key(tax_year: int, partition: int) -> str:
    return f"{tax_year}:{partition}"
