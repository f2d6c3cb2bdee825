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
from collections.abc import Iterable
from typing import cast

from sqlalchemy import BigInteger, String, Table, bindparam, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from storage.base import Base
from storage.multirow_insert import insert_rows
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
_CHANGED = ("record_id", "revision", "status", "reason_code", "field", "reason", "at")
_IN_CHUNK = 5000  # event ids per IN (): below SQLite's bound on variables


def _columns(r: ReceiptRecord) -> dict[str, object]:
    return {"registry": r.registry, "event_id": r.event_id} | {
        name: getattr(r, name) for name in _CHANGED
    }


def _held_keys(session: Session, keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of ``keys`` (registry, event_id) have a row already: per registry, so the
    lookup walks the primary key (registry, event_id). Filtering on event_id alone
    scanned the whole table for every batch: quadratic, a million-resident season
    stalled on it (docs/benchmarks.md)."""
    by_registry: dict[str, list[str]] = {}
    for registry, event_id in keys:
        by_registry.setdefault(registry, []).append(event_id)
    held: set[tuple[str, str]] = set()
    for registry, event_ids in sorted(by_registry.items()):
        event_ids.sort()
        for start in range(0, len(event_ids), _IN_CHUNK):
            rows = session.execute(
                select(_TABLE.c.event_id).where(
                    _TABLE.c.registry == registry,
                    _TABLE.c.event_id.in_(event_ids[start : start + _IN_CHUNK]),
                )
            )
            held.update((registry, event_id) for (event_id,) in rows)
    return held


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


class ReceiptRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def record(self, receipts: Iterable[ReceiptRecord], source: Source) -> int:
        """Write a batch (in offset order) and move the offsets, in one transaction;
        returns how many receipts were new.

        Core statements, not ORM objects: a season writes one row per registry event, and
        the unit of work cost ≈ 40 µs a row (bench/receipts.py)."""
        items = list(receipts)
        with self._sessions() as session, session.begin():
            fresh = [r for r, new in zip(items, admit(session, source), strict=True) if new]
            held = _held_keys(session, {(r.registry, r.event_id) for r in fresh})
            new_rows: dict[tuple[str, str], ReceiptRecord] = {}
            changed: dict[tuple[str, str], ReceiptRecord] = {}
            written = 0
            for r in fresh:
                key = (r.registry, r.event_id)
                if key in held or key in new_rows:
                    if r.status != "superseded":
                        continue
                    (new_rows if key in new_rows else changed)[key] = r
                else:
                    new_rows[key] = r
                written += 1
            if new_rows:
                insert_rows(session, _TABLE, [_columns(r) for r in new_rows.values()])
            if changed:
                session.execute(
                    update(_TABLE)
                    .where(
                        _TABLE.c.registry == bindparam("key_registry"),
                        _TABLE.c.event_id == bindparam("key_event_id"),
                    )
                    .values({name: bindparam(name) for name in _CHANGED}),
                    [
                        {"key_registry": r.registry, "key_event_id": r.event_id}
                        | {name: getattr(r, name) for name in _CHANGED}
                        for r in changed.values()
                    ],
                )
        return written

    def get(self, registry: str, event_id: str) -> ReceiptRecord | None:
        with self._sessions() as session:
            row = session.get(IngestReceipt, (registry, event_id))
            return _record(row) if row is not None else None
