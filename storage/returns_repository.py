"""Reads and idempotent writes of projected return versions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from storage.models import ReturnVersion


class ReturnsRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def save_versions(self, values: Sequence[dict[str, Any]], projected_at: datetime) -> int:
        """Store ``returns.v1`` values; a version already stored is skipped (at-least-once).

        Returns how many rows were inserted.
        """
        unique: dict[tuple[str, int, int], dict[str, Any]] = {}
        for value in values:
            unique[(value["pinfl"], value["tax_year"], value["version"])] = value
        if not unique:
            return 0
        with self._sessions() as session:
            existing = set(
                session.execute(
                    select(
                        ReturnVersion.pinfl, ReturnVersion.tax_year, ReturnVersion.version
                    ).where(
                        tuple_(
                            ReturnVersion.pinfl, ReturnVersion.tax_year, ReturnVersion.version
                        ).in_(list(unique))
                    )
                ).all()
            )
            fresh = [v for k, v in unique.items() if k not in existing]
            try:
                if fresh:  # one multi-row INSERT, no unit of work: cheaper than add_all
                    rows = [_columns(v, projected_at) for v in fresh]
                    session.execute(insert(ReturnVersion), rows)
                session.commit()
                return len(fresh)
            except IntegrityError:
                # Another writer got there first with some of them: fall back to one by one.
                session.rollback()
        return sum(self._save_one(v, projected_at) for v in fresh)

    def _save_one(self, value: dict[str, Any], projected_at: datetime) -> int:
        with self._sessions() as session:
            session.add(ReturnVersion(**_columns(value, projected_at)))
            try:
                session.commit()
                return 1
            except IntegrityError:
                session.rollback()
                return 0

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


def _columns(value: dict[str, Any], projected_at: datetime) -> dict[str, Any]:
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
