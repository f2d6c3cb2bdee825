"""Read-only queries for the STC dashboard over the returns, lifecycle and people tables
(aggregates in SQL; callers get plain values, never ORM rows)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import (
    distinct,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from contracts import topics
from lifecycle.model import Dispute
from storage.lifecycle.reads import dispute_of
from storage.lifecycle.tables import (
    LifecycleAudit,
    LifecycleDispute,
    LifecycleOutbox,
    LifecyclePayment,
    LifecycleReturn,
)
from storage.people import Person

# analyst: aggregates and the disputes queue without identities; case_handler: individual
# disputes (masked PINFL); supervisor: all of it and integrator API keys.
from storage.portal.surveys import age_band

TASHKENT_OFFSET_HOURS = 5  # Asia/Tashkent has no daylight saving time
FUNNEL_STEPS = (
    "computed",
    "notified",
    "delivered",
    "viewed",
    "agreed",
    "disagreed",
    "paid",
    "refunded",
)


def _local_day(column: Any, dialect: str) -> ColumnElement[Any]:
    """The Tashkent calendar day of a UTC timestamp column, as text ``YYYY-MM-DD``."""
    if dialect == "sqlite":
        return func.strftime("%Y-%m-%d", column, f"+{TASHKENT_OFFSET_HOURS} hours")
    return func.to_char(func.timezone("Asia/Tashkent", column), "YYYY-MM-DD")


class DisputeRow(NamedTuple):
    """A dispute in the dashboard's queue, with the taxpayer's region."""

    dispute: Dispute
    region_code: str


class DashboardQueries:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def _steps(self, tax_year: int, dialect: str) -> Any:
        """(pinfl, step, channel, day) rows: every time a taxpayer reached a funnel step,
        on the business calendar (Tashkent days of the lifecycle's clock)."""
        a = LifecycleAudit
        year = a.tax_year == tax_year
        channel = (
            func.substr(a.actor, func.instr(a.actor, ":") + 1)
            if dialect == "sqlite"
            else func.split_part(a.actor, ":", 2)
        )

        def audit(step: str, *where: Any) -> Any:
            return select(
                a.pinfl.label("pinfl"),
                literal(step).label("step"),
                channel.label("channel"),
                _local_day(a.occurred_at, dialect).label("day"),
            ).where(year, *where)

        # A first notice handed to the notifier: its business time is in the message.
        issued = (
            select(
                LifecycleReturn.pinfl.label("pinfl"),
                literal("notified").label("step"),
                literal("").label("channel"),
                func.substr(LifecycleOutbox.value["created_at"].as_string(), 1, 10).label("day"),
            )
            .join(LifecycleReturn, LifecycleReturn.return_id == LifecycleOutbox.return_id)
            .where(
                LifecycleReturn.tax_year == tax_year,
                LifecycleOutbox.topic == topics.NOTICES,
                LifecycleOutbox.kind == "first_notice",
            )
        )
        return union_all(
            audit("computed", a.from_state.is_(None), a.to_state == "computed"),
            issued,
            audit("delivered", (a.to_state == "notified") | (a.event == "notice_delivered")),
            audit("viewed", a.event == "viewed"),
            audit("agreed", a.event == "agreed"),
            audit("disagreed", a.to_state == "disagreed"),
            audit("paid", a.to_state == "paid"),
            audit("refunded", a.to_state == "refunded"),
        ).subquery()

    def funnel_by_day(self, tax_year: int) -> dict[str, dict[str, int]]:
        """``{day: {step: taxpayers who first reached the step that day}}`` (Tashkent days)."""
        with self._sessions() as session:
            dialect = session.get_bind().dialect.name
            steps = self._steps(tax_year, dialect)
            first = (
                select(steps.c.pinfl, steps.c.step, func.min(steps.c.day).label("day"))
                .group_by(steps.c.pinfl, steps.c.step)
                .subquery()
            )
            rows = session.execute(
                select(first.c.day, first.c.step, func.count()).group_by(first.c.day, first.c.step)
            ).all()
        out: dict[str, dict[str, int]] = {}
        for d, step, n in rows:
            out.setdefault(str(d), {})[str(step)] = int(n)
        return dict(sorted(out.items()))

    def breakdowns(self, tax_year: int) -> dict[str, dict[str, dict[str, int]]]:
        """``{dimension: {group: {step: taxpayers}}}`` for region, sex, age band, channel."""
        with self._sessions() as session:
            dialect = session.get_bind().dialect.name
            steps = self._steps(tax_year, dialect)
            birth_year = func.substr(Person.birth_date, 1, 4)
            people_rows = session.execute(
                select(
                    Person.region_code,
                    Person.sex,
                    birth_year,
                    steps.c.step,
                    func.count(distinct(steps.c.pinfl)),
                )
                .select_from(steps)
                .outerjoin(Person, Person.pinfl == steps.c.pinfl)
                .group_by(Person.region_code, Person.sex, birth_year, steps.c.step)
            ).all()
            channel_rows = session.execute(
                select(steps.c.channel, steps.c.step, func.count(distinct(steps.c.pinfl)))
                .where(steps.c.step.in_(("delivered", "viewed", "agreed", "disagreed", "paid")))
                .group_by(steps.c.channel, steps.c.step)
            ).all()
        result: dict[str, dict[str, dict[str, int]]] = {
            "region": {},
            "sex": {},
            "age_band": {},
            "channel": {},
        }
        for region, sex, born, step, n in people_rows:
            year = int(born) if born and str(born).isdigit() else None
            for dim, group in (
                ("region", region or "unknown"),
                ("sex", sex or "unknown"),
                ("age_band", age_band(year, tax_year)),
            ):
                cell = result[dim].setdefault(group, {})
                cell[step] = cell.get(step, 0) + int(n)
        for channel, step, n in channel_rows:
            result["channel"].setdefault(channel or "unknown", {})[str(step)] = int(n)
        for dim in result:
            result[dim] = dict(sorted(result[dim].items()))
        return result

    def disputes(
        self,
        tax_year: int | None = None,
        statuses: Sequence[str] | None = None,
        registry: str | None = None,
        region: str | None = None,
        due_before: dt.date | None = None,
        limit: int = 200,
        offset: int = 0,
    ) -> tuple[list[DisputeRow], int]:
        """The disputes queue (earliest deadline first) and how many match in all."""
        d = LifecycleDispute
        with self._sessions() as session:
            query = select(d, Person.region_code).outerjoin(Person, Person.pinfl == d.pinfl)
            if tax_year is not None:
                query = query.where(d.tax_year == tax_year)
            if statuses:
                query = query.where(d.status.in_(list(statuses)))
            if registry:
                query = query.where(d.registry_name == registry)
            if region:
                query = query.where(Person.region_code == region)
            if due_before is not None:
                query = query.where(d.respond_by <= due_before)
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.execute(
                query.order_by(d.respond_by, d.opened_at, d.dispute_id).limit(limit).offset(offset)
            ).all()
            return [DisputeRow(dispute_of(r), region_code or "") for r, region_code in rows], int(
                total
            )

    def dispute_statuses(self, tax_year: int) -> dict[str, int]:
        with self._sessions() as session:
            return {
                str(s): int(n)
                for s, n in session.execute(
                    select(LifecycleDispute.status, func.count())
                    .where(LifecycleDispute.tax_year == tax_year)
                    .group_by(LifecycleDispute.status)
                ).all()
            }

    def refund_due_tiyin(self, tax_year: int) -> int:
        """Refunds owed by the current versions (negative balances), as a positive sum."""
        with self._sessions() as session:
            total = session.scalar(
                select(func.coalesce(func.sum(LifecycleReturn.balance_tiyin), 0)).where(
                    LifecycleReturn.tax_year == tax_year, LifecycleReturn.balance_tiyin < 0
                )
            )
            return -int(total or 0)

    def money_by_day(self, tax_year: int) -> dict[str, dict[str, int]]:
        """``{day: {"payment"|"refund": tiyin}}`` of settled payments (Tashkent days)."""
        p = LifecyclePayment
        with self._sessions() as session:
            dialect = session.get_bind().dialect.name
            day = _local_day(p.settled_at, dialect)
            rows = session.execute(
                select(day, p.kind, func.sum(p.principal_tiyin))
                .where(p.tax_year == tax_year, p.status == "succeeded", p.settled_at.is_not(None))
                .group_by(day, p.kind)
            ).all()
        out: dict[str, dict[str, int]] = {}
        for d, kind, n in rows:
            out.setdefault(str(d), {})[str(kind)] = int(n or 0)
        return dict(sorted(out.items()))

    def tax_years(self) -> list[int]:
        with self._sessions() as session:
            return [
                int(y)
                for y in session.scalars(
                    select(LifecycleReturn.tax_year).distinct().order_by(LifecycleReturn.tax_year)
                )
            ]
