"""Read-only queries for the taxpayer cabinet over the returns and lifecycle tables."""

from __future__ import annotations

import dataclasses

from sqlalchemy import (
    func,
    select,
)
from sqlalchemy.orm import Session, sessionmaker

from storage.lifecycle.tables import (
    LifecycleReturn,
)
from storage.models import ReturnVersion

# analyst: aggregates and the disputes queue without identities; case_handler: individual
# disputes (masked PINFL); supervisor: all of it and integrator API keys.


@dataclasses.dataclass(frozen=True, slots=True)
class YearSummary:
    tax_year: int
    version: int
    balance_tiyin: int
    state: str | None  # None: the lifecycle has not picked the return up yet


class CabinetQueries:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def years(self, pinfl: str) -> list[YearSummary]:
        """Every tax year with a return for this taxpayer, newest first."""
        with self._sessions() as session:
            newest = (
                select(ReturnVersion.tax_year, func.max(ReturnVersion.version).label("v"))
                .where(ReturnVersion.pinfl == pinfl)
                .group_by(ReturnVersion.tax_year)
                .subquery()
            )
            rows = session.execute(
                select(ReturnVersion.tax_year, ReturnVersion.version, ReturnVersion.balance_tiyin)
                .join(
                    newest,
                    (ReturnVersion.tax_year == newest.c.tax_year)
                    & (ReturnVersion.version == newest.c.v),
                )
                .where(ReturnVersion.pinfl == pinfl)
                .order_by(ReturnVersion.tax_year.desc())
            ).all()
            states = dict(
                session.execute(
                    select(LifecycleReturn.tax_year, LifecycleReturn.state).where(
                        LifecycleReturn.pinfl == pinfl
                    )
                ).all()
            )
        return [YearSummary(int(y), int(v), int(b), states.get(y)) for y, v, b in rows]
