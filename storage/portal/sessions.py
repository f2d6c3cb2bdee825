"""Server-side web sessions: the cookie carries a random token, the table its sha256, so a
database leak does not hand out live sessions."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy import (
    String,
    delete,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from storage.base import Base
from storage.types import UtcDateTime

# analyst: aggregates and the disputes queue without identities; case_handler: individual
# disputes (masked PINFL); supervisor: all of it and integrator API keys.


class PortalSession(Base):
    __tablename__ = "portal_sessions"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))  # anonymous | taxpayer | staff
    subject: Mapped[str] = mapped_column(String(64), default="")  # PINFL or username
    role: Mapped[str] = mapped_column(String(16), default="")
    csrf_token: Mapped[str] = mapped_column(String(64))
    pending_pinfl: Mapped[str] = mapped_column(String(14), default="")  # code sent, not yet in
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


@dataclasses.dataclass(frozen=True, slots=True)
class SessionRecord:
    token_sha256: str
    kind: str
    subject: str
    role: str
    csrf_token: str
    pending_pinfl: str
    created_at: dt.datetime
    expires_at: dt.datetime


def _session(row: PortalSession) -> SessionRecord:
    return SessionRecord(
        row.token_sha256,
        row.kind,
        row.subject,
        row.role,
        row.csrf_token,
        row.pending_pinfl,
        row.created_at,
        row.expires_at,
    )


class SessionRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def create(
        self,
        token_sha256: str,
        kind: str,
        subject: str,
        role: str,
        csrf_token: str,
        now: dt.datetime,
        expires_at: dt.datetime,
        pending_pinfl: str = "",
        replaces: str | None = None,
    ) -> SessionRecord:
        """A new session; ``replaces`` (the old token's hash) is deleted in the same step."""
        with self._sessions() as session, session.begin():
            if replaces:
                session.execute(delete(PortalSession).where(PortalSession.token_sha256 == replaces))
            row = PortalSession(
                token_sha256=token_sha256,
                kind=kind,
                subject=subject,
                role=role,
                csrf_token=csrf_token,
                pending_pinfl=pending_pinfl,
                created_at=now,
                last_seen_at=now,
                expires_at=expires_at,
            )
            session.add(row)
            session.flush()
            return _session(row)

    def get(self, token_sha256: str, now: dt.datetime) -> SessionRecord | None:
        with self._sessions() as session:
            row = session.get(PortalSession, token_sha256)
            if row is None or row.expires_at <= now:
                return None
            return _session(row)

    def touch(self, token_sha256: str, now: dt.datetime, expires_at: dt.datetime) -> None:
        with self._sessions() as session, session.begin():
            row = session.get(PortalSession, token_sha256)
            if row is not None:
                row.last_seen_at, row.expires_at = now, expires_at

    def set_pending(self, token_sha256: str, pinfl: str) -> None:
        with self._sessions() as session, session.begin():
            row = session.get(PortalSession, token_sha256)
            if row is not None:
                row.pending_pinfl = pinfl

    def delete(self, token_sha256: str) -> None:
        with self._sessions() as session, session.begin():
            session.execute(delete(PortalSession).where(PortalSession.token_sha256 == token_sha256))

    def purge_expired(self, now: dt.datetime) -> int:
        with self._sessions() as session, session.begin():
            result: Any = session.execute(
                delete(PortalSession).where(PortalSession.expires_at <= now)
            )
            return int(result.rowcount or 0)
