"""``compute_return``: facts + parameters -> a traceable annual return.

Order of the computation (each step writes its lines):
1. each income category adds up its records (employment, rent, property sales,
   dividends) and each exempt-use kind applies its caps;
2. exempt uses are capped by the income they can make exempt (categories in
   ``exempt_use.eligible_income_categories``) and reduce the general-rate base;
3. tax = rate × base per rate (general 12%, dividends 5%), rounded once per rate;
4. credits = tax withheld at source + the INPS offset, the latter at most the
   general-rate tax (Art 385 reduces the tax, it never makes it negative), so a refund
   can never exceed the tax actually withheld;
5. balance = tax - credits: > 0 payable, < 0 refund.
"""

from __future__ import annotations

from fractions import Fraction

from tax.deadlines import declaration_deadline, payment_deadline
from tax.errors import TaxError
from tax.facts import Facts
from tax.hashing import reproducibility_hash
from tax.lines import LineBook, exact_soums, soums
from tax.model import TaxReturn, Totals
from tax.parameters.model import ParameterSet, ParameterValue
from tax.parameters.year import YearParameters
from tax.rounding import round_tiyin
from tax.rules import dividends, employment, exempt_uses, property_sale, rental
from tax.version import ENGINE_VERSION


def rules_version(parameters: ParameterSet) -> str:
    return f"engine-{ENGINE_VERSION}+params-{parameters.version}"


def compute_return(facts: Facts, parameters: ParameterSet, tax_year: int) -> TaxReturn:
    if facts.tax_year != tax_year:
        raise TaxError(f"facts are for tax year {facts.tax_year}, not {tax_year}")
    law: YearParameters = parameters.for_year(tax_year)
    book = LineBook()

    emp = employment.apply(facts.payroll, book)
    rent = rental.apply(facts.rental, book, tax_year)
    sales = property_sale.apply(facts.property_sales, book, law)
    divs = dividends.apply(facts.dividends, book, law)
    uses = exempt_uses.apply(facts.deductions, book, law)

    # Exempt uses can only exempt income of the eligible categories.
    categories = law.constant("exempt_use.eligible_income_categories")
    exemptible_by = {
        "employment": emp.taxable,
        "rental": rent.income,
        "property_sale": sales.taxable,
        "dividend": divs.taxable,
    }
    exemptible = sum(exemptible_by[c] for c in categories.value)
    applied = min(uses.eligible, exemptible)
    book.add(
        "exempt_use.limited_by_income",
        uses.eligible - applied,
        uses.sources,
        uses=[categories],
        computation=(
            f"exempt uses {soums(uses.eligible)} − income they can exempt "
            f"({', '.join(categories.value)}) {soums(exemptible)}"
        ),
    )

    general_sources = (
        *emp.sources,
        *rent.sources,
        *sales.declaration_sources,  # the sales whose gain is taxable
        *(uses.sources if applied else ()),
    )
    base_general = emp.taxable + rent.income + sales.taxable - applied
    deciding: list[ParameterValue] = list(sales.deciding)
    if applied > emp.taxable:  # the exemption reached beyond employment income
        deciding.append(categories)
    book.add(
        "base.general",
        base_general,
        general_sources,
        uses=deciding,
        computation=(
            f"employment {soums(emp.taxable)} + rent {soums(rent.income)} + property "
            f"{soums(sales.taxable)} − exempt uses {soums(applied)}"
        ),
        unverified_reading=rent.partial_month_counted,
    )
    tax_general = _tax_at_rate(
        book, law, "general", base_general, general_sources, "pit.rate.general"
    )

    book.add(
        "base.dividend",
        divs.taxable,
        divs.sources,
        uses=divs.deciding,
        computation=f"dividends {soums(divs.gross)} − exempt {soums(divs.exempt)}",
    )
    tax_dividend = _tax_at_rate(
        book, law, "dividend", divs.taxable, divs.sources, "pit.rate.dividend"
    )

    withheld = emp.withheld + rent.withheld + divs.withheld
    book.add(
        "credit.withheld",
        withheld,
        (*emp.withholding_sources, *rent.withholding_sources, *divs.withholding_sources),
        computation=(
            f"employers {soums(emp.withheld)} + tenants {soums(rent.withheld)} + "
            f"companies {soums(divs.withheld)}"
        ),
    )
    inps_credited = min(emp.inps, tax_general)
    book.add(
        "credit.inps_offset",
        inps_credited,
        emp.inps_sources,
        computation=(
            f"reported {soums(emp.inps)}, at most the general-rate tax {soums(tax_general)}"
        ),
    )

    tax_computed = tax_general + tax_dividend
    credited = withheld + inps_credited
    balance = tax_computed - credited
    result_code = "result.nil"
    if balance:
        result_code = "result.payable" if balance > 0 else "result.refund"
    book.add(
        result_code,
        abs(balance),
        (*general_sources, *divs.sources),
        computation=f"tax {soums(tax_computed)} − credits {soums(credited)}",
    )

    reasons = []
    if rent.declaration_sources:
        reasons.append("rental_individual_tenant")
    if sales.declaration_sources:
        reasons.append("property_sale_taxable")

    totals = Totals(
        gross_income_tiyin=emp.gross + rent.income + sales.income + divs.gross,
        employment_gross_tiyin=emp.gross,
        rental_gross_tiyin=rent.income,
        property_sale_gross_tiyin=sales.income,
        dividend_gross_tiyin=divs.gross,
        exempt_income_tiyin=emp.exempt + sales.exempt + divs.exempt + applied,
        taxable_income_tiyin=base_general + divs.taxable,
        tax_computed_tiyin=tax_computed,
        tax_withheld_tiyin=withheld,
        inps_offset_credited_tiyin=inps_credited,
        tax_credited_tiyin=credited,
        balance_tiyin=balance,
    )
    return TaxReturn(
        pinfl=facts.pinfl,
        tax_year=tax_year,
        lines=tuple(book.lines),
        totals=totals,
        declaration_required=bool(reasons),
        declaration_reasons=tuple(reasons),
        declaration_deadline=declaration_deadline(law),
        payment_deadline=payment_deadline(law),
        rules_version=rules_version(parameters),
        reproducibility_hash=reproducibility_hash(facts, parameters.version, ENGINE_VERSION),
    )


def _tax_at_rate(
    book: LineBook, law: YearParameters, which: str, base: int, sources: tuple, rate_name: str
) -> int:
    rate = law.constant(rate_name)
    rounding = law.constant("rounding.tax_amount")
    # base × rate in integers: a Fraction's product is Python code (two gcds, a new
    # Fraction), twice a return; the Fraction is built only for the text of a rounding.
    product, denominator = base * rate.value.numerator, rate.value.denominator
    whole, remainder = divmod(product, denominator)
    exact: Fraction | int = Fraction(product, denominator) if remainder else whole
    tax = round_tiyin(exact, rounding.value)
    rounded = exact != tax
    book.add(
        f"tax.{which}",
        tax,
        sources,
        uses=[rate, rounding] if rounded else [rate],
        context=[] if rounded else [rounding],
        computation=(
            f"{rate.render()} × {soums(base)} = {soums(tax)}"
            + (f" (exact {exact_soums(exact)}, rounded: {rounding.render()})" if rounded else "")
        ),
    )
    return tax
