"""People from the population registry: name, phone and language for the notifier and portal.

A projection of ``registry.population.v1``: the highest revision wins, a void keeps a
tombstone (so an older revision arriving later cannot bring the person back).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from storage.base import Base
from storage.multirow_insert import OnConflict, insert_rows
from storage.stream_offsets import Source, admit


class Person(Base):
    __tablename__ = "people"

    pinfl: Mapped[str] = mapped_column(String(14), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    voided: Mapped[bool] = mapped_column(Boolean, default=False)
    full_name: Mapped[str | None] = mapped_column(String(200))
    birth_date: Mapped[str | None] = mapped_column(String(10))
    sex: Mapped[str | None] = mapped_column(String(1))
    region_code: Mapped[str | None] = mapped_column(String(16), index=True)
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    preferred_language: Mapped[str | None] = mapped_column(String(8))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# One statement a page: a person held at this revision or a higher one stays as held (so a
# void's tombstone holds too); no ORM objects loaded to compare revisions (docs/benchmarks.md).
_NEWER_REVISION_REPLACES = OnConflict.when_greater(("pinfl",), "revision")


@dataclass(frozen=True)
class PersonUpdate:
    pinfl: str
    revision: int
    data: dict[str, Any] | None  # None: the record was voided


class PeopleRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def apply(
        self,
        updates: Sequence[PersonUpdate],
        now: datetime,
        source: Source | None = None,
        before_commit: Callable[[], None] | None = None,
    ) -> int:
        """Upsert by highest revision in one transaction; returns how many rows changed.
        With ``source`` (one position per update), the projection's offsets move in the
        same transaction and updates below them are skipped (storage/stream_offsets.py)."""
        with self._sessions() as session, session.begin():
            if source is not None:
                fresh = admit(session, source)
                updates = [u for u, new in zip(updates, fresh, strict=True) if new]
            newest: dict[str, PersonUpdate] = {}
            for update in updates:
                held = newest.get(update.pinfl)
                if held is None or update.revision > held.revision:
                    newest[update.pinfl] = update
            rows = [{"pinfl": pinfl, **_columns(update, now)} for pinfl, update in newest.items()]
            changed = insert_rows(session, Person, rows, on_conflict=_NEWER_REVISION_REPLACES)
            if before_commit is not None:
                before_commit()
        return changed

    def get(self, pinfl: str) -> Person | None:
        """The person, or None when unknown or voided."""
        with self._sessions() as session:
            person = session.get(Person, pinfl)
            return None if person is None or person.voided else person

    def sample(self, limit: int) -> list[tuple[str, str, str]]:
        """(pinfl, full name, preferred language) of the first people by PINFL: the
        identity stand-ins' page to choose a demo taxpayer."""
        with self._sessions() as session:
            rows = session.execute(
                select(Person.pinfl, Person.full_name, Person.preferred_language)
                .where(~Person.voided)
                .order_by(Person.pinfl)
                .limit(limit)
            )
            return [(p, n or "", lang or "") for p, n, lang in rows]

    def by_phone(self, phone: str) -> list[Person]:
        with self._sessions() as session:
            return list(
                session.scalars(select(Person).where(Person.phone == phone, ~Person.voided))
            )


def _columns(update: PersonUpdate, now: datetime) -> dict[str, Any]:
    data = update.data or {}
    return {
        "revision": update.revision,
        "voided": update.data is None,
        "full_name": data.get("full_name"),
        "birth_date": data.get("birth_date"),
        "sex": data.get("sex"),
        "region_code": data.get("region_code"),
        "phone": data.get("phone"),
        "preferred_language": data.get("preferred_language"),
        "updated_at": now,
    }
