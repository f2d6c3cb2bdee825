"""Receipts of registry events: the database projection of ``registry.<registry>.receipts.v1``
that ``GET /api/v1/registries/{registry}/events/{event_id}`` reads.

One row per ``(registry, event_id)``: the first receipt of an event_id makes the row; later
ones change it only when the event was ``superseded`` (a ``duplicate`` or a ``conflict`` on
a reused event_id says nothing new about the event that holds the id). Rows and the
consumer's offsets commit in one transaction (storage/stream_offsets.py), so a replay
writes nothing twice. No personal data: ids, status, reason, time.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Annotated, Any, cast

import msgspec
from sqlalchemy import BigInteger, String, Table
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from storage.base import Base
from storage.stream_offsets import Source, admit


class IngestReceipt(Base):
    __tablename__ = "ingest_receipts"

    registry_name: Mapped[str] = mapped_column("registry", String(32), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    record_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    revision: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    reason_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    field: Mapped[str | None] = mapped_column(String(256), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    at: Mapped[str] = mapped_column(String(40))


@dataclasses.dataclass(frozen=True, slots=True)
class ReceiptRecord:
    event_id: str
    registry: str
    record_id: str | None
    revision: int | None
    status: str
    reason_code: str | None
    field: str | None
    reason: str | None
    at: str


_TABLE = cast(Table, IngestReceipt.__table__)
# the columns are named as a receipt's fields (contracts/schemas/registry.receipts.v1.json)
_COLUMNS = tuple(column.name for column in _TABLE.columns)
_LISTED = ", ".join(f'"{c}"' for c in _COLUMNS)
_INTEGERS = frozenset(c.name for c in _TABLE.columns if isinstance(c.type, BigInteger))

# A message's receipts are read by the database itself (SQLite's json_each, PostgreSQL's
# jsonb_array_elements), in the statement that writes them: no Python object per receipt,
# and the statement runs with the GIL released. Built as Python objects, a page of rows
# per INSERT, a receipt held the GIL ≈ 10 µs of the database thread, beside the worker's
# busy event loop (docs/benchmarks.md, seventeenth session).
#
# A receipt for an event_id already held replaces the row only when it says the event was
# superseded: a ``duplicate`` or a ``conflict`` on a reused event_id says nothing new. So
# of one key the first receipt counts, unless a later one is ``superseded`` (the last of
# those then). SQLite applies a statement's rows in order, each against the one before;
# PostgreSQL refuses a statement that touches a row twice, so there the message's
# receipts of one key are narrowed to that one first. Only the table's own identifiers
# are in the text; the message is the one bound parameter.
_INSERT = f'INSERT INTO "{_TABLE.name}" ({_LISTED}) '
_ON_CONFLICT = (
    " ON CONFLICT (registry, event_id) DO UPDATE SET "
    + ", ".join(f'"{c}" = excluded."{c}"' for c in _COLUMNS if c not in ("registry", "event_id"))
    + " WHERE excluded.status = 'superseded'"
)


def _sqlite_statement() -> str:
    picked = ", ".join(f"j.value ->> '{c}'" for c in _COLUMNS)
    rows = f"SELECT {picked} FROM json_each(?, '$.receipts') AS j WHERE true ORDER BY j.key"  # noqa: S608
    return _INSERT + rows + _ON_CONFLICT


def _postgresql_statement() -> str:
    def column(name: str) -> str:
        cast_to = "::bigint" if name in _INTEGERS else ""
        return f"(e.value ->> '{name}'){cast_to} AS \"{name}\""

    receipts = (
        f"SELECT e.i, {', '.join(column(c) for c in _COLUMNS)} FROM jsonb_array_elements("  # noqa: S608
        "CAST(%s AS jsonb) -> 'receipts') WITH ORDINALITY AS e(value, i)"
    )
    ranked = (
        "SELECT *, row_number() OVER (PARTITION BY registry, event_id ORDER BY "
        "status = 'superseded' DESC, CASE WHEN status = 'superseded' THEN -i ELSE i END) AS n "
        "FROM receipts"
    )
    rows = f"SELECT {_LISTED} FROM ranked WHERE n = 1"  # noqa: S608
    return f"WITH receipts AS ({receipts}), ranked AS ({ranked}) " + _INSERT + rows + _ON_CONFLICT


_STATEMENTS = {"sqlite": _sqlite_statement(), "postgresql": _postgresql_statement()}


def _record(row: IngestReceipt) -> ReceiptRecord:
    return ReceiptRecord(
        event_id=row.event_id,
        registry=row.registry_name,
        record_id=row.record_id,
        revision=row.revision,
        status=row.status,
        reason_code=row.reason_code,
        field=row.field,
        reason=row.reason,
        at=row.at,
    )


@functools.cache
def _message_decoder() -> msgspec.json.Decoder[Any]:
    """A receipts message whose every receipt the table holds: a value of each column's
    type and length, null only where the column allows it (generated from the table, so
    the two cannot drift apart)."""
    fields: list[tuple[str, Any]] = []
    for column in _TABLE.columns:
        kind: Any
        if isinstance(column.type, BigInteger):
            kind = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
        else:
            length = cast(String, column.type).length
            kind = Annotated[str, msgspec.Meta(max_length=length)]
        fields.append((str(column.name), kind | None if column.nullable else kind))
    receipt = msgspec.defstruct("HeldReceipt", fields, gc=False, forbid_unknown_fields=True)
    message = msgspec.defstruct("HeldReceipts", [("receipts", list[receipt])], gc=False)  # type: ignore[valid-type]
    return msgspec.json.Decoder(message)


def holdable(message: bytes) -> bool:
    """Whether the table can hold every receipt of a ``registry.<registry>.receipts.v1``
    message: a message that is not would fail its statement, and every retry of its batch.
    ≈ 0.3 µs a receipt (msgspec, in C); the schema's own type with its patterns took 1.5."""
    try:
        _message_decoder().decode(message)
    except msgspec.DecodeError:  # ValidationError is one
        return False
    return True


class ReceiptRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def record(self, messages: Sequence[bytes], source: Source) -> int:
        """Write a batch of ``registry.<registry>.receipts.v1`` messages (in offset order,
        each ``holdable``: ``source.positions`` one per message) and move the
        offsets, in one transaction; returns the rows inserted or replaced (a row replaced
        within the batch counts each time). A message below the stored offsets (a replay)
        writes nothing. One statement a message, the database reading its JSON."""
        with self._sessions() as session, session.begin():
            fresh = admit(session, source)
            connection = session.connection()
            statement = _STATEMENTS[connection.dialect.name]
            written = 0
            for message, new in zip(messages, fresh, strict=True):
                if new:
                    result = connection.exec_driver_sql(statement, (message.decode(),))
                    written += result.rowcount
            return written

    def get(self, registry: str, event_id: str) -> ReceiptRecord | None:
        with self._sessions() as session:
            row = session.get(IngestReceipt, (registry, event_id))
            return _record(row) if row is not None else None
