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


def insert_rows(
    session: Session, into: Table | type[DeclarativeBase], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert ``rows`` (each a mapping of column name to value, all with the same keys) into
    a table or a mapped class's table, in the session's transaction. A key that is not a
    column of the table is a ``KeyError``; a duplicate key fails the statement
    (``IntegrityError``) as ``insert`` would."""
    if not rows:
        return
    table = into if isinstance(into, Table) else cast(Table, into.__table__)
    connection = session.connection()
    dialect = connection.dialect
    names = list(rows[0])
    columns = [table.c[name] for name in names]
    # the dialect's own implementation of each type, as ``insert`` uses it (a DateTime on
    # SQLite is text in SQLAlchemy's format, not the driver's)
    processors = [column.type.dialect_impl(dialect).bind_processor(dialect) for column in columns]
    quote = dialect.identifier_preparer.quote
    # Only the table's own identifiers, quoted by the dialect, go into the text; every
    # value is a bound parameter.
    head = (
        f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "  # noqa: S608
        f"({', '.join(quote(column.name) for column in columns)}) VALUES "
    )
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    group = "(" + ", ".join([marker] * len(names)) + ")"
    start = 0
    for size in page_sizes(len(rows), largest_page(len(names))):
        page = rows[start : start + size]
        start += size
        values: list[Any] = []
        for row in page:
            if len(row) != len(names):
                raise ValueError(f"rows differ in their columns: {sorted(row)} vs {names}")
            for name, process in zip(names, processors, strict=True):
                value = row[name]
                values.append(value if process is None else process(value))
        connection.exec_driver_sql(head + ", ".join([group] * len(page)), tuple(values))
