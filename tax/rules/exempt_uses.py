"""Exempt uses of income: the refund path (Tax Code Art 378(16) and (23)).

Income directed to these payments is exempt. Caps, each in its parameter:
- tuition, voluntary pension contributions: no cap;
- preschool / school fees: a cap per child (beneficiary) per calendar month of payment,
  the value in force on the last day of that month;
- mortgage: a multiple of the minimum wage per tax year;
- personal investment account: a multiple of the minimum wage per calendar month of
  payment (minimum wage on the last day of the month) and another per tax year.
Annual caps use the minimum wage on ``exempt_use.annual_cap_mw_reference_day``
(31 December, an unverified choice). The engine then caps the total by the income the
payments can make exempt (``tax.engine``). The registry is trusted for eligibility
(institution, subsidised mortgage, relation to the student or child).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from tax.dates import month_end
from tax.facts import DEDUCTION_KINDS, DeductionFact
from tax.lines import LineBook, soums
from tax.parameters.model import ParameterValue
from tax.parameters.year import YearParameters
from tax.records import SourceRef


@dataclasses.dataclass(frozen=True, slots=True)
class ExemptUseResult:
    eligible: int  # after the caps, before the income limit
    sources: tuple[SourceRef, ...]


@dataclasses.dataclass(slots=True)
class _Capped:
    eligible: int = 0
    over: int = 0
    binding: list[ParameterValue] = dataclasses.field(default_factory=list)
    shown: list[ParameterValue] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    def cap(self, claimed: int, cap: int, values: Sequence[ParameterValue], what: str) -> int:
        allowed = min(claimed, cap)
        if claimed > cap:
            self.binding.extend(values)
            self.notes.append(f"{what}: {soums(claimed)} capped at {soums(cap)}")
        else:
            self.shown.extend(values)
        return allowed


def apply(
    payments: Sequence[DeductionFact], book: LineBook, law: YearParameters
) -> ExemptUseResult:
    eligible = 0
    for kind in DEDUCTION_KINDS:
        rows = sorted(
            (p for p in payments if p.kind == kind), key=lambda p: (p.paid_on, p.source.record_id)
        )
        if not rows:
            continue
        claimed = sum(r.amount_tiyin for r in rows)
        capped = _CAPS[kind](rows, law) if kind in _CAPS else _Capped(eligible=claimed)
        sources = [r.source for r in rows]
        detail = ("; ".join(capped.notes) or "within the cap") if kind in _CAPS else "no cap"
        book.add(
            f"exempt_use.{kind}",
            capped.eligible,
            sources,
            uses=capped.binding,
            context=capped.shown,
            computation=f"{len(rows)} payment(s) totalling {soums(claimed)}; {detail}",
        )
        book.add(
            "exempt_use.over_cap",
            claimed - capped.eligible,
            sources,
            uses=capped.binding,
            subject=kind,
            computation=f"{soums(claimed)} paid − {soums(capped.eligible)} within the cap",
        )
        eligible += capped.eligible
    return ExemptUseResult(eligible=eligible, sources=tuple(p.source for p in payments))


def _preschool(rows: Sequence[DeductionFact], law: YearParameters) -> _Capped:
    result = _Capped()
    groups: dict[tuple[str, int], int] = {}
    for row in rows:
        key = (row.beneficiary_pinfl, row.paid_on.month)
        groups[key] = groups.get(key, 0) + row.amount_tiyin
    for (child, month), claimed in sorted(groups.items()):
        cap = law.at("exempt_use.preschool.monthly_cap_per_child", month_end(law.year, month))
        result.eligible += result.cap(claimed, cap.value, [cap], f"child {child}, month {month}")
    return result


def _minimum_wage_cap(
    law: YearParameters, multiple_name: str, wage_day: dt.date
) -> tuple[int, list[ParameterValue]]:
    """A cap of N minimum wages: N from ``multiple_name``, the wage in force on the day."""
    multiple = law.constant(multiple_name)
    wage = law.at("indexing.minimum_wage", wage_day)
    return multiple.value * wage.value, [multiple, wage]


def _mortgage(rows: Sequence[DeductionFact], law: YearParameters) -> _Capped:
    result = _Capped()
    cap, values = _minimum_wage_cap(law, "exempt_use.mortgage.annual_cap_mw", law.annual_cap_day())
    values.append(law.constant("exempt_use.annual_cap_mw_reference_day"))
    result.eligible = result.cap(sum(r.amount_tiyin for r in rows), cap, values, "year")
    return result


def _investment_account(rows: Sequence[DeductionFact], law: YearParameters) -> _Capped:
    result = _Capped()
    by_month: dict[int, int] = {}
    for row in rows:
        by_month[row.paid_on.month] = by_month.get(row.paid_on.month, 0) + row.amount_tiyin
    within_months = 0
    for month, claimed in sorted(by_month.items()):
        cap, values = _minimum_wage_cap(
            law, "exempt_use.investment_account.monthly_cap_mw", month_end(law.year, month)
        )
        within_months += result.cap(claimed, cap, values, f"month {month}")
    cap, values = _minimum_wage_cap(
        law, "exempt_use.investment_account.annual_cap_mw", law.annual_cap_day()
    )
    values.append(law.constant("exempt_use.annual_cap_mw_reference_day"))
    result.eligible = result.cap(within_months, cap, values, "year")
    return result


_CAPS = {
    "preschool": _preschool,
    "mortgage": _mortgage,
    "investment_account": _investment_account,
}
