"""``storage.types.UtcDateTime`` on SQLite and PostgreSQL: aware in, the same instant out
in UTC, comparisons and order by instant whatever offset a value came with."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import StatementError

from core.clock import TASHKENT
from storage.types import UtcDateTime
from tests.support.tables import engine_with

METADATA = MetaData()
MOMENTS = Table(
    "utc_moments",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("at", UtcDateTime, nullable=True),
)
# Two offsets; 2027-03-25 09:00 in Tashkent is 04:00 UTC, before 05:30 UTC.
EARLY = dt.datetime(2027, 3, 25, 9, 0, tzinfo=TASHKENT)
LATE = dt.datetime(2027, 3, 25, 5, 30, tzinfo=dt.UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    with engine_with(METADATA, database_url) as engine:
        yield engine


def test_values_come_back_aware_in_utc_as_the_same_instant(engine: Engine) -> None:
    with engine.begin() as db:
        db.execute(
            MOMENTS.insert(), [{"id": 1, "at": EARLY}, {"id": 2, "at": LATE}, {"id": 3, "at": None}]
        )
        rows = dict(db.execute(select(MOMENTS.c.id, MOMENTS.c.at)).all())
    assert rows[1] == EARLY and rows[1].utcoffset() == dt.timedelta(0)
    assert rows[1].tzinfo is dt.UTC and rows[2].tzinfo is dt.UTC
    assert rows[2] == LATE
    assert rows[3] is None


def test_comparisons_and_order_go_by_the_instant(engine: Engine) -> None:
    with engine.begin() as db:
        db.execute(MOMENTS.insert(), [{"id": 1, "at": LATE}, {"id": 2, "at": EARLY}])
        ordered = db.scalars(select(MOMENTS.c.id).order_by(MOMENTS.c.at)).all()
        # 04:30 UTC given as Tashkent time: after EARLY (04:00 UTC), before LATE (05:30 UTC)
        between = dt.datetime(2027, 3, 25, 9, 30, tzinfo=TASHKENT)
        before = db.scalars(select(MOMENTS.c.id).where(MOMENTS.c.at < between)).all()
        same = db.scalars(
            select(MOMENTS.c.id).where(MOMENTS.c.at == EARLY.astimezone(dt.UTC))
        ).all()
        stored = db.execute(text("SELECT at FROM utc_moments WHERE id = 2")).scalar_one()
    assert ordered == [2, 1]
    assert before == [2]
    assert same == [2]
    # what the database holds is the UTC wall time (SQLite) or the instant (PostgreSQL)
    if engine.dialect.name == "sqlite":
        assert str(stored).startswith("2027-03-25 04:00:00")
    else:
        assert stored == EARLY


def test_a_naive_value_is_refused(engine: Engine) -> None:
    with pytest.raises(StatementError, match="naive datetime"), engine.begin() as db:
        db.execute(MOMENTS.insert(), [{"id": 1, "at": dt.datetime(2027, 3, 25, 9, 0)}])
