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

from sqlalchemy import BigInteger, String, select
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
        returns how many receipts were new."""
        items = list(receipts)
        written = 0
        with self._sessions() as session, session.begin():
            fresh = [r for r, new in zip(items, admit(session, source), strict=True) if new]
            keys = {(r.registry, r.event_id) for r in fresh}
            held = {
                (row.registry_name, row.event_id): row
                for row in session.scalars(
                    select(IngestReceipt).where(
                        IngestReceipt.event_id.in_(sorted({e for _, e in keys}))
                    )
                )
                if (row.registry_name, row.event_id) in keys
            }
            for r in fresh:
                row = held.get((r.registry, r.event_id))
                if row is None:
                    row = IngestReceipt(registry_name=r.registry, event_id=r.event_id)
                    session.add(row)
                    held[(r.registry, r.event_id)] = row
                elif r.status != "superseded":
                    continue
                row.record_id, row.revision, row.status = r.record_id, r.revision, r.status
                row.reason_code, row.field, row.reason, row.at = (
                    r.reason_code,
                    r.field,
                    r.reason,
                    r.at,
                )
                written += 1
        return written

    def get(self, registry: str, event_id: str) -> ReceiptRecord | None:
        with self._sessions() as session:
            row = session.get(IngestReceipt, (registry, event_id))
            return _record(row) if row is not None else None
