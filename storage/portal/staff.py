"""STC staff accounts (roles analyst, case handler, supervisor) and the log of their
CSV exports. Passwords are never stored in clear: ``password_hash`` holds the KDF string
made by ``portal.auth.passwords``."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import (
    Integer,
    String,
    delete,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from storage.base import Base
from storage.portal.sessions import PortalSession
from storage.types import UtcDateTime

# analyst: aggregates and the disputes queue without identities; case_handler: individual
# disputes (masked PINFL); supervisor: all of it and integrator API keys.


# analyst: aggregates and the disputes queue without identities; case_handler: individual
# disputes (masked PINFL); supervisor: all of it and integrator API keys.
STAFF_ROLES = ("analyst", "case_handler", "supervisor")


class PortalStaff(Base):
    __tablename__ = "portal_staff"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class PortalExport(Base):
    """Audit log of staff exports of individual rows (who, what, how many, when)."""

    __tablename__ = "portal_exports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    query: Mapped[str] = mapped_column(String(500), default="")
    exported_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


@dataclasses.dataclass(frozen=True, slots=True)
class StaffRecord:
    username: str
    display_name: str
    role: str
    password_hash: str
    created_at: dt.datetime
    disabled: bool


def _staff(row: PortalStaff) -> StaffRecord:
    return StaffRecord(
        row.username,
        row.display_name,
        row.role,
        row.password_hash,
        row.created_at,
        row.disabled_at is not None,
    )


class StaffRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def upsert(
        self, username: str, role: str, password_hash: str, display_name: str, now: dt.datetime
    ) -> StaffRecord:
        if role not in STAFF_ROLES:
            raise ValueError(f"role must be one of {', '.join(STAFF_ROLES)}")
        with self._sessions() as session, session.begin():
            row = session.get(PortalStaff, username)
            if row is None:
                row = PortalStaff(username=username, created_at=now)
                session.add(row)
            elif row.role != role or row.password_hash != password_hash:
                # a new role or password ends every session of the account
                session.execute(delete(PortalSession).where(
                    PortalSession.kind == "staff", PortalSession.subject == username
                ))  # fmt: skip
            row.role, row.password_hash, row.display_name = role, password_hash, display_name
            row.disabled_at = None
            session.flush()
            return _staff(row)

    def get(self, username: str) -> StaffRecord | None:
        with self._sessions() as session:
            row = session.get(PortalStaff, username)
            return None if row is None else _staff(row)

    def disable(self, username: str, now: dt.datetime) -> bool:
        with self._sessions() as session, session.begin():
            row = session.get(PortalStaff, username)
            if row is None:
                return False
            row.disabled_at = now
            session.execute(delete(PortalSession).where(
                PortalSession.kind == "staff", PortalSession.subject == username
            ))  # fmt: skip
            return True

    def list(self) -> list[StaffRecord]:
        with self._sessions() as session:
            return [
                _staff(r)
                for r in session.scalars(select(PortalStaff).order_by(PortalStaff.username))
            ]


class ExportLog:
    """Who exported which individual rows, and when (the analysts' dispute rows)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def record(
        self, username: str, role: str, name: str, rows: int, query: str, now: dt.datetime
    ) -> None:
        with self._sessions() as session, session.begin():
            session.add(
                PortalExport(
                    username=username,
                    role=role,
                    name=name,
                    rows=rows,
                    query=query[:500],
                    exported_at=now,
                )
            )

    def recent(self, limit: int = 100) -> list[tuple[str, str, str, int, str, dt.datetime]]:
        with self._sessions() as session:
            return [
                (r.username, r.role, r.name, r.rows, r.query, r.exported_at)
                for r in session.scalars(
                    select(PortalExport).order_by(PortalExport.id.desc()).limit(limit)
                )
            ]
