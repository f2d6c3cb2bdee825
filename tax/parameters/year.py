"""The parameters of one tax year, checked for completeness once.

``ParameterSet.for_year(year)`` builds this view. It refuses a year in which any
parameter the engine needs has a day without a value, and it refuses a mid-year change
of a parameter the annual computation treats as constant (a rate, a cap multiple, the
rounding rule): both would otherwise give a silently wrong figure.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from tax.errors import MissingParameter, TaxError
from tax.parameters.model import ParameterSet, ParameterValue

# One value for the whole tax year.
CONSTANT_IN_YEAR = (
    "pit.rate.general",
    "pit.rate.dividend",
    "property_sale.residential_min_holding_months",
    "property_sale.land_exempt",
    "exempt_use.mortgage.annual_cap_mw",
    "exempt_use.investment_account.annual_cap_mw",
    "exempt_use.investment_account.monthly_cap_mw",
    "exempt_use.annual_cap_mw_reference_day",
    "exempt_use.eligible_income_categories",
    "rounding.tax_amount",
    "deadline.declaration",
    "deadline.payment",
)
# Looked up by the date of the payment or month they apply to.
DATED_IN_YEAR = (
    "indexing.minimum_wage",
    "dividend.jsc_exempt",
    "exempt_use.preschool.monthly_cap_per_child",
)


class ParameterChangesMidYear(TaxError):
    """A parameter the annual computation needs as one value changes inside the year."""


@dataclasses.dataclass(frozen=True, slots=True)
class YearParameters:
    params: ParameterSet
    year: int
    constants: dict[str, ParameterValue]
    # tax.deadlines' answers, worked out once a year (the same for every return of it)
    deadlines: dict[str, dt.date] = dataclasses.field(
        default_factory=dict, repr=False, compare=False, hash=False
    )

    @classmethod
    def build(cls, params: ParameterSet, year: int) -> YearParameters:
        first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
        for name in CONSTANT_IN_YEAR + DATED_IN_YEAR:
            if not params.get(name).covers(first, last):
                raise MissingParameter(name, f"no value for every day of tax year {year}")
        constants: dict[str, ParameterValue] = {}
        for name in CONSTANT_IN_YEAR:
            at_start, at_end = params.at(name, first), params.at(name, last)
            if at_start is not at_end:
                raise ParameterChangesMidYear(
                    f"parameter {name!r} changes inside tax year {year} "
                    f"({at_start.start} and {at_end.start}); the engine needs one value"
                )
            constants[name] = at_start
        return cls(params=params, year=year, constants=constants)

    def constant(self, name: str) -> ParameterValue:
        return self.constants[name]

    def value(self, name: str) -> Any:
        return self.constants[name].value

    def at(self, name: str, day: dt.date) -> ParameterValue:
        return self.params.at(name, day)

    def annual_cap_day(self) -> dt.date:
        """The day whose minimum wage sets an annual cap (a documented, unverified choice)."""
        month, day = self.value("exempt_use.annual_cap_mw_reference_day")
        return dt.date(self.year, month, day)
