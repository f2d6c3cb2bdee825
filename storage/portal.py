"""The portal's own tables (staff accounts, web sessions, satisfaction surveys, sign-in
throttles) and its read-only queries over the other areas' tables for the cabinet and the
STC dashboard (aggregates in SQL; callers get plain values, never ORM rows).

Sessions are server-side: the cookie carries a random token, the table its sha256, so a
database leak does not hand out live sessions. Staff passwords are never stored here in
clear: ``password_hash`` holds the KDF string made by ``portal.auth.passwords``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import (
    Integer,
    String,
    Text,
    UniqueConstraint,
    case,
    delete,
    distinct,
    func,
    literal,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from contracts import topics
from lifecycle.model import Dispute
from storage.base import Base
from storage.lifecycle.reads import dispute_of
from storage.lifecycle.tables import (
    LifecycleAudit,
    LifecycleDispute,
    LifecycleOutbox,
    LifecyclePayment,
    LifecycleReturn,
    UtcDateTime,
)
from storage.models import ReturnVersion
from storage.people import Person

# analyst: aggregates and the disputes queue without identities; case_handler: individual
# disputes (masked PINFL); supervisor: all of it and integrator API keys.
STAFF_ROLES = ("analyst", "case_handler", "supervisor")
TASHKENT_OFFSET_HOURS = 5  # Asia/Tashkent has no daylight saving time


class PortalStaff(Base):
    __tablename__ = "portal_staff"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class PortalSession(Base):
    __tablename__ = "portal_sessions"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))  # anonymous | taxpayer | staff
    subject: Mapped[str] = mapped_column(String(64), default="")  # PINFL or username
    role: Mapped[str] = mapped_column(String(16), default="")
    csrf_token: Mapped[str] = mapped_column(String(64))
    pending_pinfl: Mapped[str] = mapped_column(String(14), default="")  # code sent, not yet in
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


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


class PortalThrottle(Base):
    """Attempts per key (``code:<pinfl>|<client>``, ``client:<client>``,
    ``staff:<username>|<client>``, ``send:<pinfl>`` ...) and when the next one may come.
    Counted by one atomic statement per attempt (``ThrottleRepository.attempt``)."""

    __tablename__ = "portal_throttles"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    next_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class PortalExport(Base):
    """Audit log of staff exports of individual rows (who, what, how many, when)."""

    __tablename__ = "portal_exports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    query: Mapped[str] = mapped_column(String(500), default="")
    exported_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


# --- records ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class StaffRecord:
    username: str
    display_name: str
    role: str
    password_hash: str
    created_at: dt.datetime
    disabled: bool


@dataclasses.dataclass(frozen=True, slots=True)
class SessionRecord:
    token_sha256: str
    kind: str
    subject: str
    role: str
    csrf_token: str
    pending_pinfl: str
    created_at: dt.datetime
    expires_at: dt.datetime


def _staff(row: PortalStaff) -> StaffRecord:
    return StaffRecord(
        row.username,
        row.display_name,
        row.role,
        row.password_hash,
        row.created_at,
        row.disabled_at is not None,
    )


def _session(row: PortalSession) -> SessionRecord:
    return SessionRecord(
        row.token_sha256,
        row.kind,
        row.subject,
        row.role,
        row.csrf_token,
        row.pending_pinfl,
        row.created_at,
        row.expires_at,
    )


# --- staff, sessions, throttles, surveys --------------------------------------------------


class StaffRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def upsert(
        self, username: str, role: str, password_hash: str, display_name: str, now: dt.datetime
    ) -> StaffRecord:
        if role not in STAFF_ROLES:
            raise ValueError(f"role must be one of {', '.join(STAFF_ROLES)}")
        with self._sessions() as session, session.begin():
            row = session.get(PortalStaff, username)
            if row is None:
                row = PortalStaff(username=username, created_at=now)
                session.add(row)
            elif row.role != role or row.password_hash != password_hash:
                # a new role or password ends every session of the account
                session.execute(delete(PortalSession).where(
                    PortalSession.kind == "staff", PortalSession.subject == username
                ))  # fmt: skip
            row.role, row.password_hash, row.display_name = role, password_hash, display_name
            row.disabled_at = None
            session.flush()
            return _staff(row)

    def get(self, username: str) -> StaffRecord | None:
        with self._sessions() as session:
            row = session.get(PortalStaff, username)
            return None if row is None else _staff(row)

    def disable(self, username: str, now: dt.datetime) -> bool:
        with self._sessions() as session, session.begin():
            row = session.get(PortalStaff, username)
            if row is None:
                return False
            row.disabled_at = now
            session.execute(delete(PortalSession).where(
                PortalSession.kind == "staff", PortalSession.subject == username
            ))  # fmt: skip
            return True

    def list(self) -> list[StaffRecord]:
        with self._sessions() as session:
            return [
                _staff(r)
                for r in session.scalars(select(PortalStaff).order_by(PortalStaff.username))
            ]


class SessionRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def create(
        self,
        token_sha256: str,
        kind: str,
        subject: str,
        role: str,
        csrf_token: str,
        now: dt.datetime,
        expires_at: dt.datetime,
        pending_pinfl: str = "",
        replaces: str | None = None,
    ) -> SessionRecord:
        """A new session; ``replaces`` (the old token's hash) is deleted in the same step."""
        with self._sessions() as session, session.begin():
            if replaces:
                session.execute(delete(PortalSession).where(PortalSession.token_sha256 == replaces))
            row = PortalSession(
                token_sha256=token_sha256,
                kind=kind,
                subject=subject,
                role=role,
                csrf_token=csrf_token,
                pending_pinfl=pending_pinfl,
                created_at=now,
                last_seen_at=now,
                expires_at=expires_at,
            )
            session.add(row)
            session.flush()
            return _session(row)

    def get(self, token_sha256: str, now: dt.datetime) -> SessionRecord | None:
        with self._sessions() as session:
            row = session.get(PortalSession, token_sha256)
            if row is None or row.expires_at <= now:
                return None
            return _session(row)

    def touch(self, token_sha256: str, now: dt.datetime, expires_at: dt.datetime) -> None:
        with self._sessions() as session, session.begin():
            row = session.get(PortalSession, token_sha256)
            if row is not None:
                row.last_seen_at, row.expires_at = now, expires_at

    def set_pending(self, token_sha256: str, pinfl: str) -> None:
        with self._sessions() as session, session.begin():
            row = session.get(PortalSession, token_sha256)
            if row is not None:
                row.pending_pinfl = pinfl

    def delete(self, token_sha256: str) -> None:
        with self._sessions() as session, session.begin():
            session.execute(delete(PortalSession).where(PortalSession.token_sha256 == token_sha256))

    def purge_expired(self, now: dt.datetime) -> int:
        with self._sessions() as session, session.begin():
            result: Any = session.execute(
                delete(PortalSession).where(PortalSession.expires_at <= now)
            )
            return int(result.rowcount or 0)


@dataclasses.dataclass(frozen=True, slots=True)
class Backoff:
    """Progressive delays instead of a lock: ``free`` attempts without waiting, then
    ``base`` before the next, doubling each time up to ``cap``; after ``idle`` without an
    attempt the key starts again from nothing. A refused attempt is not counted and
    does not prolong the wait (nobody can keep a key locked by trying)."""

    free: int
    base: dt.timedelta
    cap: dt.timedelta
    idle: dt.timedelta

    def delay(self, attempts: int) -> dt.timedelta:
        """The wait after the ``attempts``-th counted attempt."""
        if attempts < self.free:
            return dt.timedelta(0)
        steps = attempts - self.free
        if steps >= 40 or self.base * (2**steps) >= self.cap:
            return self.cap
        return self.base * (2**steps)

    def steps(self) -> int:
        """Counts after which the delay no longer changes (the cap is reached)."""
        n = self.free
        while self.delay(n) < self.cap and n < self.free + 40:
            n += 1
        return n


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    attempts: int  # counted attempts of the key, this one included when allowed
    retry_after: dt.timedelta  # when refused: how long until the key takes an attempt


class ThrottleRepository:
    """Count first, atomically, then decide: one ``INSERT .. ON CONFLICT DO UPDATE ..
    WHERE next_at <= now RETURNING`` per attempt, on SQLite and PostgreSQL alike (SQLite
    ignores ``FOR UPDATE``; both serialise the upsert of one row), so N concurrent attempts
    are N increments and only those the backoff allows come back allowed."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def attempt(self, key: str, now: dt.datetime, backoff: Backoff) -> Verdict:
        t = PortalThrottle.__table__
        stale = now - backoff.idle
        # next_at of the n-th attempt, as bound values (no date arithmetic in SQL dialects):
        # now while attempts are free, then one value per doubling, then the cap
        first = now + backoff.delay(1)
        counted = case(
            (t.c.attempts + 1 < backoff.free, literal(now, UtcDateTime)),
            *(
                (t.c.attempts + 1 == n, literal(now + backoff.delay(n), UtcDateTime))
                for n in range(max(backoff.free, 1), backoff.steps() + 1)
            ),
            else_=literal(now + backoff.cap, UtcDateTime),
        )
        restarted = t.c.last_at <= literal(stale, UtcDateTime)
        with self._sessions() as session, session.begin():
            dialect = session.get_bind().dialect.name
            insert_ = sqlite_insert if dialect == "sqlite" else pg_insert
            statement = (
                insert_(PortalThrottle)
                .values(key=key, attempts=1, last_at=now, next_at=first)
                .on_conflict_do_update(
                    index_elements=[t.c.key],
                    set_={
                        "attempts": case((restarted, 1), else_=t.c.attempts + 1),
                        "last_at": now,
                        "next_at": case((restarted, literal(first, UtcDateTime)), else_=counted),
                    },
                    where=(t.c.next_at <= literal(now, UtcDateTime)) | restarted,
                )
                .returning(t.c.attempts)
            )
            attempts = session.execute(statement).scalar()
            if attempts is not None:
                return Verdict(True, int(attempts), dt.timedelta(0))
            row = session.get(PortalThrottle, key)
        if row is None:  # deleted between the two statements: a success elsewhere
            return Verdict(False, 0, dt.timedelta(seconds=1))
        return Verdict(False, row.attempts, max(row.next_at - now, dt.timedelta(seconds=1)))

    def forgive(self, key: str) -> None:
        """Take back one counted attempt (a success does not count against a client)."""
        with self._sessions() as session, session.begin():
            session.execute(
                update(PortalThrottle)
                .where(PortalThrottle.key == key, PortalThrottle.attempts > 0)
                .values(attempts=PortalThrottle.attempts - 1)
            )

    def clear(self, key: str) -> None:
        with self._sessions() as session, session.begin():
            session.execute(delete(PortalThrottle).where(PortalThrottle.key == key))

    def attempts(self, key: str) -> int:
        with self._sessions() as session:
            row = session.get(PortalThrottle, key)
            return 0 if row is None else int(row.attempts)

    def purge_idle(self, now: dt.datetime, idle: dt.timedelta) -> int:
        with self._sessions() as session, session.begin():
            result: Any = session.execute(
                delete(PortalThrottle).where(
                    PortalThrottle.last_at <= now - idle, PortalThrottle.next_at <= now
                )
            )
            return int(result.rowcount or 0)


class ExportLog:
    """Who exported which individual rows, and when (the analysts' dispute rows)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def record(
        self, username: str, role: str, name: str, rows: int, query: str, now: dt.datetime
    ) -> None:
        with self._sessions() as session, session.begin():
            session.add(
                PortalExport(
                    username=username,
                    role=role,
                    name=name,
                    rows=rows,
                    query=query[:500],
                    exported_at=now,
                )
            )

    def recent(self, limit: int = 100) -> list[tuple[str, str, str, int, str, dt.datetime]]:
        with self._sessions() as session:
            return [
                (r.username, r.role, r.name, r.rows, r.query, r.exported_at)
                for r in session.scalars(
                    select(PortalExport).order_by(PortalExport.id.desc()).limit(limit)
                )
            ]


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


# --- read queries for the cabinet ---------------------------------------------------------


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


# --- read queries for the dashboard -------------------------------------------------------

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
