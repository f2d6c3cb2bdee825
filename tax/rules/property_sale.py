"""Sale of property (income: Tax Code Art 375(4); exemption: Art 378(7)).

Income is the sale price minus the documented acquisition cost; for real estate sold
without a documented cost, the positive difference between the price and the cadastral
value. A loss is income 0 (no loss is carried to other income). The sale of own property
is exempt except, among others, non-residential premises and residential premises owned
for less than 36 calendar months; land is not among the exceptions (flagged reading,
behind the ``property_sale.land_exempt`` parameter). A sale that is not exempt must be
declared (Art 393) even when the gain is 0, so that the tax office sees the cost claimed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from tax.dates import add_months, full_months_between
from tax.facts import PropertySaleFact
from tax.lines import LineBook, soums
from tax.parameters.model import ParameterValue
from tax.parameters.year import YearParameters
from tax.records import SourceRef


@dataclasses.dataclass(frozen=True, slots=True)
class PropertySaleResult:
    income: int
    exempt: int
    sources: tuple[SourceRef, ...]
    declaration_sources: tuple[SourceRef, ...]  # sales that are not exempt
    deciding: tuple[ParameterValue, ...]  # values that made a gain taxable

    @property
    def taxable(self) -> int:
        return self.income - self.exempt


def apply(
    sales: Sequence[PropertySaleFact], book: LineBook, law: YearParameters
) -> PropertySaleResult:
    holding = law.constant("property_sale.residential_min_holding_months")
    land_rule = law.constant("property_sale.land_exempt")
    income = exempt = 0
    declaration: list[SourceRef] = []
    deciding: list[ParameterValue] = []
    ordered = sorted(sales, key=lambda f: (f.sale_date, f.cadastral_number, f.source.record_id))
    for sale in ordered:
        gain, how = _gain(sale)
        held = full_months_between(sale.acquisition_date, sale.sale_date)
        since = (
            f"owned {held} full months ({sale.acquisition_date.isoformat()} to "
            f"{sale.sale_date.isoformat()})"
        )
        exemption: tuple[str, ParameterValue] | None = None
        if sale.property_kind == "residential":
            threshold = add_months(sale.acquisition_date, holding.value)
            if sale.sale_date >= threshold:
                exemption = ("property_sale.exempt_residential", holding)
            else:
                deciding.append(holding)
        elif sale.property_kind == "land":
            if land_rule.value:
                exemption = ("property_sale.exempt_land", land_rule)
            else:
                deciding.append(land_rule)
        book.add(
            "property_sale.income",
            gain,
            [sale.source],
            subject=sale.cadastral_number,
            computation=f"{how}; {sale.property_kind.replace('_', '-')}, {since}",
        )
        income += gain
        if exemption is not None:
            code, rule = exemption
            book.add(
                code,
                gain,
                [sale.source],
                uses=[rule],
                subject=sale.cadastral_number,
                computation=f"{since}: exempt",
            )
            exempt += gain
        else:
            declaration.append(sale.source)
    return PropertySaleResult(
        income=income,
        exempt=exempt,
        sources=tuple(s.source for s in ordered),
        declaration_sources=tuple(declaration),
        deciding=tuple(deciding),
    )


def _gain(sale: PropertySaleFact) -> tuple[int, str]:
    price = sale.sale_price_tiyin
    if sale.acquisition_cost_tiyin is not None:
        base, what = sale.acquisition_cost_tiyin, "documented cost"
    else:
        base, what = sale.cadastral_value_tiyin, "cadastral value (no documented cost)"
    how = f"sale price {soums(price)} − {what} {soums(base)}"
    if price <= base:
        return 0, f"{how}: no gain"
    return price - base, f"{how} = {soums(price - base)}"
