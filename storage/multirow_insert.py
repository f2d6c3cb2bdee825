"""Many new rows in few statements: ``INSERT … VALUES (…), (…), …`` a page at a time.

Why not the driver's ``executemany`` (what ``session.execute(insert(t), rows)`` runs): the
sqlite3 module steps each row on its own and lets go of the GIL around every step, so
each row of a projection's write then waits to get the GIL back from the worker's busy
event loop (a convoy; the 0.5 ms switch interval of proactax/worker.py shortens each wait,
it does not remove them). Measured beside one busy Python thread
(``bench/multirow_insert.py``): 100,000 receipts took 29.5 s through ``executemany`` and
0.6 s in pages (0.6 and 0.3 s alone). With two workers on two cores the returns
projection fell up to 12 s behind a release and the season's last returns waited for it.

A page is one statement: one step, one hand-over of the GIL. The values go through each
column type's own bind processor for the dialect (``TypeEngine.dialect_impl`` and
``bind_processor``, public API), so a row is stored exactly as ``insert(table)`` would
store it. The same code serves PostgreSQL
(positional ``%s`` placeholders for psycopg).
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.orm import DeclarativeBase, Session

# Bound parameters per statement: under SQLite's limit (32,766 since 3.32) and
# PostgreSQL's (65,535).
MAX_PARAMETERS = 10_000
LARGEST_PAGE = 512


def largest_page(columns: int) -> int:
    """The most rows a statement takes: a power of two, ``LARGEST_PAGE`` at most."""
    rows = 1
    while rows * 2 <= min(LARGEST_PAGE, MAX_PARAMETERS // max(columns, 1)):
        rows *= 2
    return rows


def page_sizes(rows: int, largest: int) -> list[int]:
    """Full pages, then the rest in falling powers of two (500 rows: 256, 128, 64, 32, 16,
    4). Each page size is a statement of its own shape, and the driver keeps every shape
    it prepared (sqlite3 caches 128 a connection): a page of any size made a shape per
    size, ≈ 100 MiB more peak RSS in the season benchmark; powers of two keep it to a few."""
    sizes = [largest] * (rows // largest)
    rest = rows % largest
    size = largest
    while rest:
        size //= 2
        if rest >= size:
            sizes.append(size)
            rest -= size
    return sizes


@dataclasses.dataclass(frozen=True, slots=True)
class OnConflict:
    """What a row whose key is already held does: ``ON CONFLICT (key) DO NOTHING``
    (``keep_held``), or ``DO UPDATE`` the held row's other columns only when the new row's
    ``column`` is greater than the held row's (``when_greater``). SQLite (3.24+) and
    PostgreSQL spell it alike. A statement must not hold one key twice (PostgreSQL refuses
    it): the caller keeps one row a key."""

    key: tuple[str, ...]
    column: str | None  # None: the held row stays

    @classmethod
    def keep_held(cls, key: tuple[str, ...]) -> OnConflict:
        return cls(key, None)

    @classmethod
    def when_greater(cls, key: tuple[str, ...], column: str) -> OnConflict:
        return cls(key, column)


def insert_rows(
    session: Session,
    into: Table | type[DeclarativeBase],
    rows: Sequence[Mapping[str, Any]],
    on_conflict: OnConflict | None = None,
) -> int:
    """Insert ``rows`` (each a mapping of column name to value, all with the same keys) into
    a table or a mapped class's table, in the session's transaction; returns how many rows
    were inserted or, with ``on_conflict``, replaced. A key that is not a column of the
    table is a ``KeyError``; without ``on_conflict`` a duplicate key fails the statement
    (``IntegrityError``) as ``insert`` would."""
    if not rows:
        return 0
    table = into if isinstance(into, Table) else cast(Table, into.__table__)
    connection = session.connection()
    dialect = connection.dialect
    names = list(rows[0])
    width = len(names)
    columns = [table.c[name] for name in names]
    # the dialect's own implementation of each type, as ``insert`` uses it (a DateTime on
    # SQLite is text in SQLAlchemy's format, not the driver's)
    processors = [column.type.dialect_impl(dialect).bind_processor(dialect) for column in columns]
    converted = [(i, process) for i, process in enumerate(processors) if process is not None]
    quote = dialect.identifier_preparer.quote
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    # Only the table's own identifiers, quoted by the dialect, go into the text; every
    # value is a bound parameter.
    head = (
        f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "  # noqa: S608
        f"({', '.join(quote(column.name) for column in columns)}) VALUES "
    )
    tail = _conflict_clause(table, names, on_conflict, dialect)
    group = "(" + ", ".join([marker] * width) + ")"
    pick = operator.itemgetter(*names)
    written = 0
    start = 0
    for size in page_sizes(len(rows), largest_page(width)):
        page = rows[start : start + size]
        start += size
        values: list[Any] = []
        for row in page:
            if len(row) != width:
                raise ValueError(f"rows differ in their columns: {sorted(row)} vs {names}")
            picked = pick(row)
            if width == 1:
                picked = (picked,)
            if converted:
                picked = list(picked)
                for i, process in converted:
                    picked[i] = process(picked[i])
            values.extend(picked)
        result = connection.exec_driver_sql(
            head + ", ".join([group] * len(page)) + tail, tuple(values)
        )
        written += result.rowcount
    return written


def _conflict_clause(
    table: Table, names: list[str], on_conflict: OnConflict | None, dialect: Any
) -> str:
    """The statement's ``ON CONFLICT`` text (identifiers only, no values)."""
    if on_conflict is None:
        return ""
    quote = dialect.identifier_preparer.quote
    target = f" ON CONFLICT ({', '.join(quote(table.c[name].name) for name in on_conflict.key)})"
    if on_conflict.column is None:
        return f"{target} DO NOTHING"
    replaced = [table.c[name].name for name in names if name not in on_conflict.key]
    when = quote(table.c[on_conflict.column].name)
    held = f"{dialect.identifier_preparer.format_table(table)}.{when}"
    return (
        f"{target} DO UPDATE SET "
        + ", ".join(f"{quote(name)} = excluded.{quote(name)}" for name in replaced)
        + f" WHERE excluded.{when} > {held}"
    )
