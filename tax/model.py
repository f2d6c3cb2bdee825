"""The result of the engine: a ``TaxReturn`` with its lines, totals and deadlines."""

from __future__ import annotations

import dataclasses
import datetime as dt

from tax.lines import TaxLine


@dataclasses.dataclass(frozen=True, slots=True)
class Totals:
    """Return totals in tiyin; ``gross = exempt + taxable`` and
    ``balance = tax_computed - tax_credited`` always hold."""

    gross_income_tiyin: int
    employment_gross_tiyin: int
    rental_gross_tiyin: int
    property_sale_gross_tiyin: int
    dividend_gross_tiyin: int
    exempt_income_tiyin: int
    taxable_income_tiyin: int
    tax_computed_tiyin: int
    tax_withheld_tiyin: int
    inps_offset_credited_tiyin: int
    tax_credited_tiyin: int  # withheld at source + INPS offset credited
    balance_tiyin: int  # > 0 payable, < 0 refund, 0 nothing

    @property
    def gross_by_category(self) -> dict[str, int]:
        return {
            "employment": self.employment_gross_tiyin,
            "rental": self.rental_gross_tiyin,
            "property_sale": self.property_sale_gross_tiyin,
            "dividend": self.dividend_gross_tiyin,
        }


@dataclasses.dataclass(frozen=True, slots=True)
class TaxReturn:
    pinfl: str
    tax_year: int
    lines: tuple[TaxLine, ...]
    totals: Totals
    declaration_required: bool
    declaration_reasons: tuple[str, ...]  # e.g. "rental_individual_tenant"
    declaration_deadline: dt.date
    payment_deadline: dt.date
    rules_version: str
    reproducibility_hash: str

    @property
    def refund_tiyin(self) -> int:
        return max(0, -self.totals.balance_tiyin)

    @property
    def payable_tiyin(self) -> int:
        return max(0, self.totals.balance_tiyin)
