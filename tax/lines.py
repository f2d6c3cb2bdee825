"""Return lines: the catalogue of line codes and the book the rules write lines into.

Every line carries its code, a label key (texts in ``contracts/texts/lines.<lang>.yaml``),
an amount in tiyin (never negative), the legal reference, the parameter values used and
the registry records it comes from. A reference gets " (unverified)" when a value or
reading that decided the amount is unverified, so an unverified figure is never
presented as law.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping
from fractions import Fraction

import msgspec

from tax.parameters.model import ParameterValue
from tax.records import SourceRef

UNVERIFIED = " (unverified)"


@dataclasses.dataclass(frozen=True, slots=True)
class LineSpec:
    code: str
    reference: str
    description: str
    keep_zero: bool = False  # source lines and the result line appear even at 0


class TaxLine(msgspec.Struct, frozen=True):
    code: str
    label_key: str
    amount_tiyin: int
    legal_reference: str
    parameters: Mapping[str, str]
    sources: tuple[SourceRef, ...]
    subject: str = ""  # what the line is about: employer TIN, contract, cadastral number...
    computation: str = ""  # the arithmetic in plain figures, for auditors


_SPECS = (
    # employment, one set per employer
    LineSpec(
        "employment.gross",
        "Tax Code Arts 371-374",
        "Employment income reported by one employer for the year.",
        keep_zero=True,
    ),
    LineSpec(
        "employment.exempt_at_source",
        "Tax Code Art 378",
        "Exempt income the employer already applied at source.",
    ),
    LineSpec(
        "employment.tax_withheld",
        "Tax Code Arts 371-374",
        "Tax the employer withheld as tax agent.",
    ),
    LineSpec(
        "employment.inps_offset",
        "Tax Code Art 385",
        "INPS pension contribution that reduced the tax, as reported by the employer.",
    ),
    # rent, one set per lease
    LineSpec(
        "rental.income_individual_tenant",
        "Tax Code Arts 375, 393",
        "Rent from an individual tenant: not taxed at source, must be declared.",
        keep_zero=True,
    ),
    LineSpec(
        "rental.income_legal_entity_tenant",
        "Tax Code Art 375",
        "Rent from a legal-entity tenant, who withholds the tax as tax agent.",
        keep_zero=True,
    ),
    LineSpec("rental.tax_withheld", "Tax Code Art 375", "Tax withheld by a legal-entity tenant."),
    # property sales, one set per sale
    LineSpec(
        "property_sale.income",
        "Tax Code Art 375(4)",
        "Gain on a sale: price minus documented cost, else minus cadastral value.",
        keep_zero=True,
    ),
    LineSpec(
        "property_sale.exempt_residential",
        "Tax Code Art 378(7)",
        "Gain on a residential property owned at least the holding period: exempt.",
    ),
    LineSpec(
        "property_sale.exempt_land",
        "Tax Code Art 378(7) (reading)",
        "Gain on a land plot: exempt on the reading that land is not excepted.",
    ),
    # dividends, one set per payer
    LineSpec("dividend.gross", "Tax Code Art 375", "Dividends from one company.", keep_zero=True),
    LineSpec(
        "dividend.exempt_jsc",
        "PQ-90 / Tax Code amendment of 2022",
        "Dividends on joint-stock company shares paid inside the exemption window.",
    ),
    LineSpec("dividend.tax_withheld", "Tax Code Art 375", "Tax withheld by the paying company."),
    # exempt uses of income, one line per kind
    LineSpec(
        "exempt_use.tuition",
        "Tax Code Art 378(16)",
        "Tuition at Uzbek professional or higher-education institutions (no cap).",
    ),
    LineSpec(
        "exempt_use.preschool",
        "Tax Code Art 378(16)",
        "Non-state preschool or school fees, capped per child per month.",
    ),
    LineSpec(
        "exempt_use.mortgage",
        "Tax Code Art 378(16), O'RQ-812",
        "Mortgage principal and interest, capped at a multiple of the minimum wage.",
    ),
    LineSpec(
        "exempt_use.voluntary_pension",
        "Tax Code Art 378(16)",
        "Voluntary contributions to the individual pension account (no cap).",
    ),
    LineSpec(
        "exempt_use.investment_account",
        "Tax Code Art 378(23)",
        "Personal investment account, capped per month and per year.",
    ),
    LineSpec(
        "exempt_use.over_cap",
        "Tax Code Art 378(16), (23)",
        "Exempt-use payments above the cap: they do not make income exempt.",
    ),
    LineSpec(
        "exempt_use.limited_by_income",
        "Tax Code Art 378(16)",
        "Exempt-use payments above the income they can make exempt: no effect.",
    ),
    # the computation
    LineSpec(
        "base.general", "Tax Code Art 381", "Income taxed at the general rate, after exemptions."
    ),
    LineSpec("tax.general", "Tax Code Art 381", "Tax at the general rate."),
    LineSpec("base.dividend", "Tax Code Art 381", "Dividends taxed at the dividend rate."),
    LineSpec("tax.dividend", "Tax Code Art 381", "Tax at the dividend rate."),
    LineSpec(
        "credit.withheld", "Tax Code Arts 371-375", "All tax withheld at source by tax agents."
    ),
    LineSpec(
        "credit.inps_offset",
        "Tax Code Art 385",
        "INPS offset credited: at most the tax at the general rate.",
    ),
    LineSpec("result.payable", "Tax Code Arts 397, 398", "Tax still to pay.", keep_zero=True),
    LineSpec("result.refund", "Tax Code Art 104", "Overpaid tax to be refunded.", keep_zero=True),
    LineSpec(
        "result.nil", "Tax Code Art 381", "Nothing to pay and nothing to refund.", keep_zero=True
    ),
)
LINE_SPECS: Mapping[str, LineSpec] = {spec.code: spec for spec in _SPECS}
LINE_CODES: tuple[str, ...] = tuple(LINE_SPECS)


def label_key(code: str) -> str:
    """Label keys equal line codes; kept separate so a label can vary without a new code."""
    return code


class LineBook:
    """Collects the lines of one return in the order the rules write them."""

    def __init__(self) -> None:
        self.lines: list[TaxLine] = []

    def add(
        self,
        code: str,
        amount_tiyin: int,
        sources: Iterable[SourceRef] = (),
        *,
        uses: Iterable[ParameterValue] = (),
        context: Iterable[ParameterValue] = (),
        subject: str = "",
        computation: str = "",
        unverified_reading: bool = False,
    ) -> None:
        """Add a line unless it is a zero line nobody needs.

        ``uses`` are the parameter values that decided the amount: an unverified one
        marks the reference. ``context`` values are shown but decided nothing (a cap
        that did not bind). ``unverified_reading`` marks an engine reading that decided
        the amount.
        """
        spec = LINE_SPECS[code]
        if amount_tiyin < 0:
            raise ValueError(f"line {code} would be negative: {amount_tiyin}")
        if amount_tiyin == 0 and not spec.keep_zero:
            return
        uses = tuple(uses)
        reference = spec.reference
        unverified = unverified_reading
        for value in uses:  # a loop, not any(<generator>): 0 – 2 values, every line
            unverified = unverified or value.confidence == "unverified"
        if unverified:
            reference += UNVERIFIED
        self.lines.append(
            TaxLine(  # positional, in the Struct's order: keywords cost it a lookup each
                code,
                label_key(code),
                amount_tiyin,
                reference,
                _rendered((*uses, *context)),
                # Unique and sorted by registry, record_id, revision. dict.fromkeys keeps the
                # rules' order, which is mostly sorted already (facts are), so the sort
                # finds runs; a set's order is its hashes' and made every sort a full one.
                tuple(sorted(dict.fromkeys(sources))),
                subject,
                computation,
            )
        )


def _rendered(values: Iterable[ParameterValue]) -> dict[str, str]:
    """Name -> value; a name used with several dated values gets ``name@start`` keys.

    A return renders the same few parameter values line after line, a million returns
    alike (≈ 5 % of a return's computing): each distinct tuple is rendered once. Values are
    frozen and hashable; the copy keeps one line's mapping from being another's."""
    return dict(_rendered_once(tuple(values)))


@functools.lru_cache(maxsize=4096)
def _rendered_once(values: tuple[ParameterValue, ...]) -> dict[str, str]:
    by_name: dict[str, dict[str, ParameterValue]] = {}
    for value in values:
        by_name.setdefault(value.name, {})[value.start.isoformat()] = value
    rendered: dict[str, str] = {}
    for name in sorted(by_name):
        dated = by_name[name]
        if len(dated) == 1:
            rendered[name] = next(iter(dated.values())).render()
        else:
            for start in sorted(dated):
                rendered[f"{name}@{start}"] = dated[start].render()
    return rendered


def exact_soums(tiyin: Fraction | int, places: int = 4) -> str:
    """An exact amount of tiyin in soums to ``places`` decimals, half away from zero, in
    integers (12 345 678 901/25 tiyin -> '4938271.5604'): the unrounded tax of a
    ``computation`` text, where a float would be an approximation beside money."""
    numerator = tiyin.numerator * 10**places
    denominator = tiyin.denominator * 100
    sign = "-" if numerator < 0 else ""
    scaled, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder >= denominator:
        scaled += 1
    whole, decimals = divmod(scaled, 10**places)
    return f"{sign}{whole}.{decimals:0{places}d}"


def soums(tiyin: int) -> str:
    """1234567 tiyin -> '12 345.67': the plain figure used in ``computation`` texts."""
    if not tiyin:  # 9 of a return's 21 figures (no rent, no sales, no exempt uses...)
        return "0.00"
    sign = "-" if tiyin < 0 else ""
    whole, cents = divmod(abs(tiyin), 100)
    return f"{sign}{whole:,}.{cents:02d}".replace(",", " ")
