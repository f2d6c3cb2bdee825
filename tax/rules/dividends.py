"""Dividends (Tax Code Art 375; 5% rate Art 381), withheld by the paying company.

Dividends on joint-stock company shares paid inside the exemption window
(``dividend.jsc_exempt``, from 2022-04-01 to 2024-12-31 per PQ-90, secondary; after that
unverified) are exempt; tax a company withheld anyway is credited and so refunded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from tax.facts import DividendFact
from tax.lines import LineBook
from tax.parameters.model import ParameterValue
from tax.parameters.year import YearParameters
from tax.records import SourceRef


@dataclasses.dataclass(frozen=True, slots=True)
class DividendResult:
    gross: int
    exempt: int
    withheld: int
    withholding_sources: tuple[SourceRef, ...]
    sources: tuple[SourceRef, ...]
    deciding: tuple[ParameterValue, ...]  # window values that left a JSC dividend taxable

    @property
    def taxable(self) -> int:
        return self.gross - self.exempt


def apply(payments: Sequence[DividendFact], book: LineBook, law: YearParameters) -> DividendResult:
    by_payer: dict[tuple[str, str], list[DividendFact]] = {}
    for payment in payments:
        by_payer.setdefault((payment.payer_tin, payment.payer_kind), []).append(payment)
    gross = exempt = withheld = 0
    deciding: list[ParameterValue] = []
    for (tin, kind), rows in sorted(by_payer.items()):
        rows.sort(key=lambda f: (f.paid_on, f.source.record_id))
        p_gross = sum(r.gross_tiyin for r in rows)
        exempt_rows: list[DividendFact] = []
        windows: list[ParameterValue] = []
        if kind == "jsc":
            for row in rows:
                window = law.at("dividend.jsc_exempt", row.paid_on)
                if window.value:
                    exempt_rows.append(row)
                    windows.append(window)
                else:
                    deciding.append(window)
        p_exempt = sum(r.gross_tiyin for r in exempt_rows)
        p_withheld = sum(r.pit_withheld_tiyin for r in rows)
        dates = ", ".join(r.paid_on.isoformat() for r in rows)
        book.add(
            "dividend.gross",
            p_gross,
            [r.source for r in rows],
            subject=tin,
            computation=f"{kind.upper()} dividends paid on {dates}",
        )
        book.add(
            "dividend.exempt_jsc",
            p_exempt,
            [r.source for r in exempt_rows],
            uses=windows,
            subject=tin,
            computation="joint-stock company dividends paid inside the exemption window",
        )
        book.add(
            "dividend.tax_withheld",
            p_withheld,
            [r.source for r in rows if r.pit_withheld_tiyin],
            subject=tin,
        )
        gross, exempt, withheld = gross + p_gross, exempt + p_exempt, withheld + p_withheld
    return DividendResult(
        gross=gross,
        exempt=exempt,
        withheld=withheld,
        withholding_sources=tuple(p.source for p in payments if p.pit_withheld_tiyin),
        sources=tuple(p.source for p in payments),
        deciding=tuple(deciding),
    )
