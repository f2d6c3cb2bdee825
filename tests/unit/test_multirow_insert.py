"""``storage.multirow_insert.insert_rows`` on SQLite and PostgreSQL: rows stored exactly as
``insert(table)`` stores them, a page of rows per statement, and the errors ``insert``
raises."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from storage.models import CompressedJSON
from storage.multirow_insert import OnConflict, insert_rows, largest_page, page_sizes
from storage.types import UtcDateTime
from tests.support.tables import engine_with


def _table(name: str, metadata: MetaData) -> Table:
    return Table(
        name,
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("flag", Boolean),
        Column("at", DateTime(timezone=True)),
        Column("moment", UtcDateTime, nullable=True),
        Column("payload", CompressedJSON, nullable=True),
        Column("name", String(40), nullable=True),
    )


METADATA = MetaData()
BY_INSERT = _table("rows_by_insert", METADATA)
BY_PAGES = _table("rows_by_pages", METADATA)
AT = dt.datetime(2027, 3, 25, 9, 0, 0, 123456, tzinfo=dt.UTC)


def row(i: int) -> dict[str, Any]:
    return {
        "id": i,
        "flag": i % 2 == 0,
        "at": AT + dt.timedelta(seconds=i),
        "moment": None if i % 3 == 0 else AT,
        # a dict is encoded by the column type; bytes are taken as its JSON already
        "payload": {"i": i, "name": "Ўзбек"} if i % 2 else b'{"raw":true}',
        "name": None if i % 5 == 0 else f"row {i}",
    }


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    with engine_with(METADATA, database_url) as engine:
        yield engine


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine)


def statements(engine: Engine) -> list[tuple[str, bool]]:
    """(statement, executemany) of every statement the engine sends from now on."""
    sent: list[tuple[str, bool]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _sent(*args: Any) -> None:  # conn, cursor, statement, params, context, executemany
        sent.append((args[2], args[5]))

    return sent


def test_rows_are_stored_as_insert_stores_them(sessions: sessionmaker[Session]) -> None:
    rows = [row(i) for i in range(1, 40)]
    with sessions.begin() as session:
        session.execute(insert(BY_INSERT), rows)
        insert_rows(session, BY_PAGES, rows)
    with sessions() as session:
        expected = session.execute(select(BY_INSERT).order_by(BY_INSERT.c.id)).all()
        stored = session.execute(select(BY_PAGES).order_by(BY_PAGES.c.id)).all()
    assert len(stored) == len(rows)
    assert stored == expected
    assert stored[0].payload == {"i": 1, "name": "Ўзбек"}
    assert stored[1].payload == {"raw": True}
    assert stored[1].flag is True and stored[0].flag is False


def test_a_page_of_rows_is_one_statement(engine: Engine, sessions: sessionmaker[Session]) -> None:
    largest = largest_page(len(row(0)))
    rows = [row(i) for i in range(largest * 2 + 7)]
    sent = statements(engine)
    with sessions.begin() as session:
        insert_rows(session, BY_PAGES, rows)
    inserts = [(s, many) for s, many in sent if s.startswith("INSERT")]
    assert len(inserts) == 5  # two full pages, then 4 + 2 + 1 rows
    assert not any(many for _, many in inserts)  # never the driver's executemany
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(BY_PAGES)) == len(rows)
        assert session.scalar(select(func.max(BY_PAGES.c.id))) == len(rows) - 1


def test_no_rows_send_no_statement(engine: Engine, sessions: sessionmaker[Session]) -> None:
    sent = statements(engine)
    with sessions.begin() as session:
        insert_rows(session, BY_PAGES, [])
    assert not [s for s, _ in sent if s.startswith("INSERT")]


def test_rows_with_other_columns_are_refused(sessions: sessionmaker[Session]) -> None:
    short = row(2)
    del short["name"]
    with pytest.raises(ValueError, match="rows differ in their columns"):
        with sessions.begin() as session:
            insert_rows(session, BY_PAGES, [row(1), short])
    with pytest.raises(KeyError):
        with sessions.begin() as session:
            insert_rows(session, BY_PAGES, [{**row(1), "colour": "red"}])


def test_a_duplicate_key_fails_the_statement_and_the_transaction(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        insert_rows(session, BY_PAGES, [row(1)])
    with pytest.raises(IntegrityError):
        with sessions.begin() as session:
            insert_rows(session, BY_PAGES, [row(2), row(3), row(1)])
    with sessions() as session:
        assert session.scalars(select(BY_PAGES.c.id)).all() == [1]


def test_on_conflict_replaces_a_held_row_only_when_its_column_is_greater(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    later_wins = OnConflict.when_greater(("id",), "at")
    with sessions.begin() as session:
        assert insert_rows(session, BY_PAGES, [row(1), row(2)]) == 2
    sent = statements(engine)
    day = dt.timedelta(days=1)
    later = [
        {**row(1), "flag": True, "name": "replaced", "at": row(1)["at"] + day},
        {**row(2), "name": "keep", "at": row(2)["at"] - day},
        row(3),
    ]
    with sessions.begin() as session:
        # row 1 replaced, row 2 held as it was, row 3 new: two rows written
        assert insert_rows(session, BY_PAGES, later, on_conflict=later_wins) == 2
    with sessions() as session:
        stored = {r.id: r for r in session.execute(select(BY_PAGES))}
    assert (stored[1].flag, stored[1].name, stored[1].payload) == (
        True,
        "replaced",
        row(1)["payload"],
    )
    assert (stored[2].flag, stored[2].name) == (row(2)["flag"], row(2)["name"])
    assert stored[3].name == row(3)["name"]
    inserts = [s for s, _ in sent if s.startswith("INSERT")]
    assert len(inserts) == 2 and all("ON CONFLICT" in s for s in inserts)  # 2 rows, then 1


def test_on_conflict_keep_held_skips_a_held_row(sessions: sessionmaker[Session]) -> None:
    keep = OnConflict.keep_held(("id",))
    with sessions.begin() as session:
        assert insert_rows(session, BY_PAGES, [row(1)], on_conflict=keep) == 1
    with sessions.begin() as session:
        changed = [{**row(1), "name": "changed"}, row(4)]
        assert insert_rows(session, BY_PAGES, changed, on_conflict=keep) == 1  # row 4
    with sessions() as session:
        stored = dict(session.execute(select(BY_PAGES.c.id, BY_PAGES.c.name)).tuples().all())
    assert stored == {1: row(1)["name"], 4: row(4)["name"]}


@given(rows=st.integers(min_value=0, max_value=20_000), columns=st.integers(1, 200))
def test_pages_cover_the_rows_in_few_shapes(rows: int, columns: int) -> None:
    largest = largest_page(columns)
    sizes = page_sizes(rows, largest)
    assert sum(sizes) == rows
    assert all(size & (size - 1) == 0 and size <= largest for size in sizes)
    assert largest * columns <= 10_000 or largest == 1
    # every size but the largest at most once: few statement shapes, few statements
    assert all(sizes.count(size) == 1 for size in set(sizes) - {largest})


def test_the_largest_page_is_a_power_of_two_within_the_parameter_bound() -> None:
    assert largest_page(9) == 512
    assert largest_page(13) == 512
    assert largest_page(40) == 128  # 10,000 // 40 = 250
    assert largest_page(20_000) == 1
