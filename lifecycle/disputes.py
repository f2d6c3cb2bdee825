"""Disputes: the registry records behind them, the date a
registry must answer by, and the part of the balance that stays payable meanwhile."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any, cast

from contracts import records
from lifecycle.model import Dispute, Line, Version
from tax.deadlines import is_day_off
from tax.errors import MissingParameter
from tax.parameters.model import ParameterSet
from tax.rounding import round_tiyin

# Income lines: disputing one can lower the tax by at most the tax on it net of what was
# withheld on it (the same subject's withholding and exemption lines).
_INCOME = {
    "employment.gross": (
        "general",
        ("employment.exempt_at_source",),
        ("employment.tax_withheld", "employment.inps_offset"),
    ),
    "rental.income_individual_tenant": ("general", (), ()),
    "rental.income_legal_entity_tenant": ("general", (), ("rental.tax_withheld",)),
    "property_sale.income": (
        "general",
        ("property_sale.exempt_residential", "property_sale.exempt_land"),
        (),
    ),
    "dividend.gross": ("dividend", ("dividend.exempt_jsc",), ("dividend.tax_withheld",)),
}
# Credits and exemptions: the taxpayer says more was withheld or exempt, by an amount
# nobody knows yet, so the whole balance is in dispute.
_CREDIT_OR_EXEMPTION = (
    "employment.exempt_at_source",
    "employment.tax_withheld",
    "employment.inps_offset",
    "rental.tax_withheld",
    "dividend.tax_withheld",
    "dividend.exempt_jsc",
    "property_sale.exempt_residential",
    "property_sale.exempt_land",
)


def match_lines(version: Version, code: str, subject: str | None) -> list[Line]:
    """The version's lines a decision line names: by code, and by subject when given
    (a code appears once per employer, lease, sale or payer)."""
    return [
        line
        for line in version.lines
        if line.code == code and (subject is None or line.subject == subject)
    ]


def add_working_days(start: dt.date, days: int, parameters: ParameterSet) -> dt.date:
    """The ``days``-th working day after ``start`` (Tax Code Art 86 calendar); weekends
    only where the calendar has no list for the year."""
    day, counted = start, 0
    while counted < days:
        day += dt.timedelta(days=1)
        try:
            off = is_day_off(day, parameters)
        except MissingParameter:
            off = day.isoweekday() in (6, 7)
        if not off:
            counted += 1
    return day


def undisputed_tiyin(
    version: Version,
    disputed: Iterable[tuple[str, str]],
    parameters: ParameterSet,
    tax_year: int,
) -> int:
    """The part of a payable balance no dispute can remove: the balance minus, for each
    disputed income line, the tax on it net of the same subject's withholding. Disputing a
    credit or an exemption puts the whole balance in dispute. 0 for refunds."""
    if version.balance_tiyin <= 0:
        return 0
    keys = set(disputed)
    if any(code in _CREDIT_OR_EXEMPTION for code, _ in keys):
        return 0
    rates = _rates(parameters, tax_year)
    by_key: dict[tuple[str, str], int] = {}
    for line in version.lines:
        by_key[line.key] = by_key.get(line.key, 0) + line.amount_tiyin
    reduction = 0
    rounding = parameters.at("rounding.tax_amount", dt.date(tax_year, 12, 31)).value
    for code, subject in keys:
        spec = _INCOME.get(code)
        if spec is None:  # an exempt-use line: disputing it can only raise the tax
            continue
        rate_name, exemptions, credits = spec
        taxable = by_key.get((code, subject), 0) - sum(
            by_key.get((e, subject), 0) for e in exemptions
        )
        tax = round_tiyin(Fraction(max(0, taxable)) * rates[rate_name], rounding)
        withheld = sum(by_key.get((c, subject), 0) for c in credits)
        reduction += max(0, tax - withheld)
    return max(0, version.balance_tiyin - reduction)


def _rates(parameters: ParameterSet, tax_year: int) -> Mapping[str, Fraction]:
    day = dt.date(tax_year, 12, 31)
    return {
        "general": parameters.at("pit.rate.general", day).value,
        "dividend": parameters.at("pit.rate.dividend", day).value,
    }


def dispute_value(dispute: Dispute, *, opened_at: str) -> records.Dispute:
    """The ``disputes.v1`` value of a dispute (CONTRACT.md "Disputes"); ``opened_at`` as
    RFC 3339 in Tashkent time."""
    value = {
        "dispute_id": dispute.dispute_id,
        "registry": dispute.registry,
        "record_id": dispute.record_id,
        "revision": dispute.revision,
        "pinfl": dispute.pinfl,
        "tax_year": dispute.tax_year,
        "reason_code": dispute.reason_code,
        "comment": dispute.comment,
        "opened_at": opened_at,
        "respond_by": dispute.respond_by.isoformat(),
    }
    return cast(records.Dispute, value)  # registry and reason_code: checked on the way in


def lines_of(decision: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    lines: Sequence[Mapping[str, Any]] = decision.get("lines") or ()
    return lines
