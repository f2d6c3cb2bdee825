"""Reads and idempotent writes of projected return versions."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from storage.models import ReturnVersion
from storage.multirow_insert import OnConflict, insert_rows
from storage.stream_offsets import Source, admit


class _Totals(msgspec.Struct):
    tax_computed_tiyin: int
    tax_credited_tiyin: int
    balance_tiyin: int


class _Head(msgspec.Struct):
    """The columns of a ``returns.v1`` value; msgspec skips the rest (the lines) in C."""

    return_id: str
    pinfl: str
    tax_year: int
    version: int
    computed_at: str
    rules_version: str
    reproducibility_hash: str
    declaration_required: bool
    totals: _Totals


_HEAD = msgspec.json.Decoder(_Head)


@dataclasses.dataclass(frozen=True, slots=True)
class EncodedReturn:
    """A ``returns.v1`` value as read off the topic: its columns, and its JSON stored as it
    came (the projection never builds the whole return as Python objects)."""

    head: _Head
    raw: bytes

    @classmethod
    def decode(cls, raw: bytes) -> EncodedReturn:
        """Raises ``msgspec.DecodeError`` (a ``ValueError``) for what is no return."""
        return cls(_HEAD.decode(raw), raw)


Value = dict[str, Any] | EncodedReturn


def _key(value: Value) -> tuple[str, int, int]:
    if isinstance(value, EncodedReturn):
        return (value.head.pinfl, value.head.tax_year, value.head.version)
    return (value["pinfl"], value["tax_year"], value["version"])


# A version already stored stays as it is (one version's content never changes): the
# database skips it by the unique key, so no lookup of the stored versions before a batch.
_HELD_VERSION_STAYS = OnConflict.keep_held(("pinfl", "tax_year", "version"))


class ReturnsRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def save_versions(
        self,
        values: Sequence[Value],
        projected_at: datetime,
        source: Source | None = None,
        before_commit: Callable[[], None] | None = None,
    ) -> int:
        """Store ``returns.v1`` values in one transaction; a version already stored is
        skipped. With ``source`` (one position per value), the projection's offsets move in
        the same transaction and values below them are skipped as already written
        (storage/stream_offsets.py). ``before_commit`` runs just before the commit (the
        crash tests' fault point). Returns how many rows were inserted."""
        with self._sessions() as session, session.begin():
            if source is not None:
                values = [
                    v for v, fresh in zip(values, admit(session, source), strict=True) if fresh
                ]
            unique: dict[tuple[str, int, int], Value] = {}
            for value in values:
                unique[_key(value)] = value
            rows = [_columns(v, projected_at) for v in unique.values()]
            inserted = insert_rows(session, ReturnVersion, rows, on_conflict=_HELD_VERSION_STAYS)
            if before_commit is not None:
                before_commit()
        return inserted

    def latest(self, pinfl: str, tax_year: int) -> ReturnVersion | None:
        with self._sessions() as session:
            return session.scalars(
                select(ReturnVersion)
                .where(ReturnVersion.pinfl == pinfl, ReturnVersion.tax_year == tax_year)
                .order_by(ReturnVersion.version.desc())
                .limit(1)
            ).first()

    def versions(self, pinfl: str, tax_year: int) -> list[ReturnVersion]:
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(ReturnVersion)
                    .where(ReturnVersion.pinfl == pinfl, ReturnVersion.tax_year == tax_year)
                    .order_by(ReturnVersion.version)
                )
            )

    def latest_by_taxpayer(self, tax_year: int) -> dict[str, ReturnVersion]:
        """The current version of every taxpayer's return for a year, keyed by PINFL."""
        with self._sessions() as session:
            newest = (
                select(ReturnVersion.pinfl, func.max(ReturnVersion.version).label("v"))
                .where(ReturnVersion.tax_year == tax_year)
                .group_by(ReturnVersion.pinfl)
                .subquery()
            )
            rows = session.scalars(
                select(ReturnVersion)
                .join(
                    newest,
                    (ReturnVersion.pinfl == newest.c.pinfl) & (ReturnVersion.version == newest.c.v),
                )
                .where(ReturnVersion.tax_year == tax_year)
            )
            return {row.pinfl: row for row in rows}

    def count_versions(self) -> int:
        with self._sessions() as session:
            return session.scalar(select(func.count()).select_from(ReturnVersion)) or 0


def _columns(value: Value, projected_at: datetime) -> dict[str, Any]:
    if isinstance(value, EncodedReturn):
        head = value.head
        return {
            "return_id": head.return_id,
            "pinfl": head.pinfl,
            "tax_year": head.tax_year,
            "version": head.version,
            "computed_at": head.computed_at,
            "rules_version": head.rules_version,
            "reproducibility_hash": head.reproducibility_hash,
            "declaration_required": head.declaration_required,
            "tax_computed_tiyin": head.totals.tax_computed_tiyin,
            "tax_credited_tiyin": head.totals.tax_credited_tiyin,
            "balance_tiyin": head.totals.balance_tiyin,
            "payload": value.raw,
            "projected_at": projected_at,
        }
    totals = value["totals"]
    return {
        "return_id": value["return_id"],
        "pinfl": value["pinfl"],
        "tax_year": value["tax_year"],
        "version": value["version"],
        "computed_at": value["computed_at"],
        "rules_version": value["rules_version"],
        "reproducibility_hash": value["reproducibility_hash"],
        "declaration_required": bool(value["declaration_required"]),
        "tax_computed_tiyin": int(totals["tax_computed_tiyin"]),
        "tax_credited_tiyin": int(totals["tax_credited_tiyin"]),
        "balance_tiyin": int(totals["balance_tiyin"]),
        "payload": value,
        "projected_at": projected_at,
    }
