"""The satisfaction survey's answers (bot and portal) and their breakdowns."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import (
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from storage.base import Base
from storage.people import Person
from storage.types import UtcDateTime

# analyst: aggregates and the disputes queue without identities; case_handler: individual
# disputes (masked PINFL); supervisor: all of it and integrator API keys.


class PortalSurvey(Base):
    __tablename__ = "portal_surveys"
    __table_args__ = (
        UniqueConstraint("pinfl", "tax_year", "trigger", name="uq_portal_survey_answer"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pinfl: Mapped[str] = mapped_column(String(14), index=True)
    tax_year: Mapped[int] = mapped_column(Integer)
    trigger: Mapped[str] = mapped_column(String(16))  # agreed | paid | refunded
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(8), default="")
    answered_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    channel: Mapped[str] = mapped_column(String(16), default="portal")  # portal | telegram


@dataclasses.dataclass(frozen=True, slots=True)
class SurveyScores:
    responses: int
    average: float | None
    by_score: dict[int, int]
    by_trigger: dict[str, tuple[int, float]]  # trigger -> (responses, average)
    comments: list[tuple[dt.datetime, int, str]]  # newest first; no PINFL


class SurveyRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def answer(
        self,
        pinfl: str,
        tax_year: int,
        trigger: str,
        score: int,
        comment: str,
        language: str,
        now: dt.datetime,
        channel: str = "portal",
    ) -> bool:
        """Store an answer; False when this taxpayer already answered for this occasion
        (on any channel: the portal and the Telegram bot share the answers)."""
        try:
            with self._sessions() as session, session.begin():
                session.add(
                    PortalSurvey(
                        pinfl=pinfl,
                        tax_year=tax_year,
                        trigger=trigger,
                        score=score,
                        comment=comment,
                        language=language,
                        answered_at=now,
                        channel=channel,
                    )
                )
            return True
        except IntegrityError:
            return False

    def answered(self, pinfl: str, tax_year: int) -> set[str]:
        with self._sessions() as session:
            return set(
                session.scalars(
                    select(PortalSurvey.trigger).where(
                        PortalSurvey.pinfl == pinfl, PortalSurvey.tax_year == tax_year
                    )
                )
            )

    def add_comment(self, pinfl: str, tax_year: int, trigger: str, comment: str) -> bool:
        """The optional comment typed after the score (Telegram); False without an answer
        or when it already has one."""
        with self._sessions() as session, session.begin():
            done = session.execute(
                update(PortalSurvey)
                .where(
                    PortalSurvey.pinfl == pinfl,
                    PortalSurvey.tax_year == tax_year,
                    PortalSurvey.trigger == trigger,
                    PortalSurvey.comment == "",
                )
                .values(comment=comment)
            )
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def breakdowns(self, tax_year: int) -> dict[str, dict[str, int]]:
        """Answers ``{dimension: {group: responses}}`` by channel, region, sex and age band
        (the dashboard protects the counts, ``portal/web/figures.py``)."""
        birth_year = func.substr(Person.birth_date, 1, 4)
        with self._sessions() as session:
            rows = session.execute(
                select(
                    PortalSurvey.channel, Person.region_code, Person.sex, birth_year, func.count()
                )
                .outerjoin(Person, Person.pinfl == PortalSurvey.pinfl)
                .where(PortalSurvey.tax_year == tax_year)
                .group_by(PortalSurvey.channel, Person.region_code, Person.sex, birth_year)
            ).all()
        out: dict[str, dict[str, int]] = {"channel": {}, "region": {}, "sex": {}, "age_band": {}}
        for channel, region, sex, born, n in rows:
            year = int(born) if born and str(born).isdigit() else None
            for dim, group in (
                ("channel", channel or "portal"),
                ("region", region or "unknown"),
                ("sex", sex or "unknown"),
                ("age_band", age_band(year, tax_year)),
            ):
                out[dim][group] = out[dim].get(group, 0) + int(n)
        return {dim: dict(sorted(groups.items())) for dim, groups in out.items()}

    def scores(self, tax_year: int, comments: int = 20) -> SurveyScores:
        with self._sessions() as session:
            where = PortalSurvey.tax_year == tax_year
            by_score = {
                int(s): int(n)
                for s, n in session.execute(
                    select(PortalSurvey.score, func.count())
                    .where(where)
                    .group_by(PortalSurvey.score)
                ).all()
            }
            by_trigger = {
                str(t): (int(n), float(a))
                for t, n, a in session.execute(
                    select(PortalSurvey.trigger, func.count(), func.avg(PortalSurvey.score))
                    .where(where)
                    .group_by(PortalSurvey.trigger)
                ).all()
            }
            latest = [
                (r.answered_at, r.score, r.comment)
                for r in session.scalars(
                    select(PortalSurvey)
                    .where(where, PortalSurvey.comment != "")
                    .order_by(PortalSurvey.answered_at.desc())
                    .limit(comments)
                )
            ]
        total = sum(by_score.values())
        average = sum(s * n for s, n in by_score.items()) / total if total else None
        return SurveyScores(total, average, by_score, by_trigger, latest)


AGE_BANDS = ((0, 24, "<25"), (25, 34, "25-34"), (35, 44, "35-44"), (45, 54, "45-54"),
             (55, 64, "55-64"), (65, 200, "65+"))  # fmt: skip


def age_band(birth_year: int | None, tax_year: int) -> str:
    if birth_year is None:
        return "unknown"
    age = tax_year - birth_year  # age reached in the tax year
    for low, high, name in AGE_BANDS:
        if low <= age <= high:
            return name
    return "unknown"
