"""Rent received by a landlord (Tax Code Art 375; declaration Art 393).

From a legal-entity tenant the tax is withheld by the tenant as tax agent; from an
individual tenant nothing is withheld, so the landlord must declare and pay 12%.

Annual rent (engine reading, documented in docs/tax-rules.md): rent is payable per
monthly period counted from the lease's start date (start, start + 1 month, ...); the
income of a tax year is the monthly rent times the number of periods that *start* in
the tax year and on or before the end date. A last period cut short by the end date
counts as a whole month because rent is payable in advance for each period started;
that reading is marked unverified on the line whenever it changes the figure.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from tax.dates import add_months
from tax.facts import RentalFact
from tax.lines import LineBook, soums
from tax.records import SourceRef


@dataclasses.dataclass(frozen=True, slots=True)
class RentalResult:
    income_individual: int
    income_legal_entity: int
    withheld: int
    withholding_sources: tuple[SourceRef, ...]
    sources: tuple[SourceRef, ...]
    declaration_sources: tuple[SourceRef, ...]  # leases to individuals with income
    partial_month_counted: bool

    @property
    def income(self) -> int:
        return self.income_individual + self.income_legal_entity


def rent_periods(start: dt.date, end: dt.date, year: int) -> tuple[int, bool]:
    """Monthly rent periods starting in ``year``; and whether one of them is cut short."""
    # Skip the periods that start before the year without looping through them.
    k = max(0, (year - start.year) * 12 - 12)
    count, partial = 0, False
    while True:
        period_start = add_months(start, k)
        if period_start > end or period_start.year > year:
            break
        if period_start.year == year:
            count += 1
            if add_months(start, k + 1) - dt.timedelta(days=1) > end:
                partial = True
        k += 1
    return count, partial


def apply(leases: Sequence[RentalFact], book: LineBook, year: int) -> RentalResult:
    individual = legal_entity = withheld = 0
    partial_any = False
    declaration: list[SourceRef] = []
    ordered = sorted(leases, key=lambda f: (f.contract_number, f.source.record_id))
    for lease in ordered:
        months, partial = rent_periods(lease.start_date, lease.end_date, year)
        income = months * lease.monthly_rent_tiyin
        code = (
            "rental.income_individual_tenant"
            if lease.tenant_kind == "individual"
            else "rental.income_legal_entity_tenant"
        )
        note = "; the last period is cut short and counted as a whole month" if partial else ""
        book.add(
            code,
            income,
            [lease.source],
            subject=lease.contract_number,
            computation=(
                f"{months} monthly period{'s' if months != 1 else ''} starting in the tax year"
                f" × {soums(lease.monthly_rent_tiyin)} (lease {lease.start_date.isoformat()}"
                f" to {lease.end_date.isoformat()}){note}"
            ),
            unverified_reading=partial and income > 0,
        )
        book.add(
            "rental.tax_withheld",
            lease.pit_withheld_tiyin,
            [lease.source],
            subject=lease.contract_number,
        )
        if lease.tenant_kind == "individual":
            individual += income
            if income > 0:
                declaration.append(lease.source)
        else:
            legal_entity += income
        withheld += lease.pit_withheld_tiyin
        partial_any = partial_any or (partial and income > 0)
    return RentalResult(
        income_individual=individual,
        income_legal_entity=legal_entity,
        withheld=withheld,
        withholding_sources=tuple(f.source for f in ordered if f.pit_withheld_tiyin),
        sources=tuple(f.source for f in ordered),
        declaration_sources=tuple(declaration),
        partial_month_counted=partial_any,
    )
