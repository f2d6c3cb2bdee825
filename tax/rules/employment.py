"""Employment income (Tax Code Arts 371-374) from one or several employers.

Employers withhold monthly as tax agents, reduced by the INPS contribution (Art 385).
The annual return adds up each employer's monthly reports; the engine then taxes the
total at the general rate, so several employers cannot cause a rounding drift per
employer, and a difference to the withholding is an under- or over-withholding.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from tax.facts import PayrollFact
from tax.lines import LineBook, soums
from tax.records import SourceRef


@dataclasses.dataclass(frozen=True, slots=True)
class EmploymentResult:
    gross: int
    exempt: int
    withheld: int
    inps: int
    withholding_sources: tuple[SourceRef, ...]
    inps_sources: tuple[SourceRef, ...]
    sources: tuple[SourceRef, ...]

    @property
    def taxable(self) -> int:
        return self.gross - self.exempt


def apply(reports: Sequence[PayrollFact], book: LineBook) -> EmploymentResult:
    by_employer: dict[str, list[PayrollFact]] = {}
    for report in reports:
        by_employer.setdefault(report.employer_tin, []).append(report)
    gross = exempt = withheld = inps = 0
    for tin in sorted(by_employer):
        rows = by_employer[tin]
        sources = [r.source for r in rows]
        months = _month_ranges(sorted({r.month for r in rows}))
        e_gross = sum(r.gross_income_tiyin for r in rows)
        e_exempt = sum(r.exempt_at_source_tiyin for r in rows)
        e_withheld = sum(r.pit_withheld_tiyin for r in rows)
        e_inps = sum(r.inps_offset_tiyin for r in rows)
        count = f"{len(rows)} monthly report{'s' if len(rows) != 1 else ''} (months {months})"
        book.add(
            "employment.gross",
            e_gross,
            sources,
            subject=tin,
            computation=f"sum of {count}: {soums(e_gross)}",
        )
        book.add(
            "employment.exempt_at_source",
            e_exempt,
            [r.source for r in rows if r.exempt_at_source_tiyin],
            subject=tin,
            computation=f"sum over {count}",
        )
        book.add(
            "employment.tax_withheld",
            e_withheld,
            [r.source for r in rows if r.pit_withheld_tiyin],
            subject=tin,
            computation=f"sum over {count}",
        )
        book.add(
            "employment.inps_offset",
            e_inps,
            [r.source for r in rows if r.inps_offset_tiyin],
            subject=tin,
            computation=f"sum over {count}",
        )
        gross, exempt = gross + e_gross, exempt + e_exempt
        withheld, inps = withheld + e_withheld, inps + e_inps
    return EmploymentResult(
        gross=gross,
        exempt=exempt,
        withheld=withheld,
        inps=inps,
        withholding_sources=tuple(r.source for r in reports if r.pit_withheld_tiyin),
        inps_sources=tuple(r.source for r in reports if r.inps_offset_tiyin),
        sources=tuple(r.source for r in reports),
    )


def _month_ranges(months: list[int]) -> str:
    """[1, 2, 3, 5] -> '1-3, 5'."""
    parts: list[str] = []
    start = previous = months[0]
    for month in [*months[1:], None]:
        if month is not None and month == previous + 1:
            previous = month
            continue
        parts.append(str(start) if start == previous else f"{start}-{previous}")
        if month is not None:
            start = previous = month
    return ", ".join(parts)
