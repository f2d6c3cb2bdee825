"""Sign-ins through an identity provider (OneID, OpenID Connect): the ones under way and
the provider sessions of signed-in taxpayers.

A sign-in under way is keyed by the sha256 of its ``state`` and bound to the browser
session that started it; it is taken (deleted) when the provider sends the browser back,
so a ``state`` works once. The provider's access token is kept server-side, next to the
portal session, only to end the provider's session at sign-out (OneID ``one_log_out``),
and deleted then or when the portal session is purged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import String, Text, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from storage.base import Base
from storage.types import UtcDateTime


class IdentityPending(Base):
    __tablename__ = "identity_pending"

    state_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_sha256: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(16))
    nonce: Mapped[str] = mapped_column(String(128), default="")
    code_verifier: Mapped[str] = mapped_column(String(128), default="")
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class IdentityLink(Base):
    __tablename__ = "identity_links"

    session_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    access_token: Mapped[str] = mapped_column(Text, default="")
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


@dataclasses.dataclass(frozen=True)
class Pending:
    session_sha256: str
    provider: str
    nonce: str
    code_verifier: str
    expires_at: dt.datetime


class IdentityRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def start(self, state_sha256: str, pending: Pending) -> None:
        with self._sessions() as session:
            session.add(IdentityPending(state_sha256=state_sha256, **dataclasses.asdict(pending)))
            session.commit()

    def take(self, state_sha256: str, now: dt.datetime) -> Pending | None:
        """The sign-in under way with this state, once; None if unknown, used or expired."""
        with self._sessions() as session:
            row = session.get(IdentityPending, state_sha256, with_for_update=True)
            if row is None:
                return None
            pending = Pending(
                row.session_sha256, row.provider, row.nonce, row.code_verifier, row.expires_at
            )
            session.delete(row)
            session.commit()
        return pending if pending.expires_at > now else None

    def link(
        self, session_sha256: str, provider: str, access_token: str, expires_at: dt.datetime
    ) -> None:
        with self._sessions() as session:
            session.merge(
                IdentityLink(
                    session_sha256=session_sha256,
                    provider=provider,
                    access_token=access_token,
                    expires_at=expires_at,
                )
            )
            session.commit()

    def unlink(self, session_sha256: str) -> tuple[str, str] | None:
        """(provider, access token) of this portal session, removed; None if none."""
        with self._sessions() as session:
            row = session.get(IdentityLink, session_sha256)
            if row is None:
                return None
            found = (row.provider, row.access_token)
            session.delete(row)
            session.commit()
        return found

    def purge_expired(self, now: dt.datetime) -> int:
        with self._sessions() as session:
            gone = session.execute(delete(IdentityPending).where(IdentityPending.expires_at <= now))
            links = session.execute(delete(IdentityLink).where(IdentityLink.expires_at <= now))
            session.commit()
        return int(gone.rowcount or 0) + int(links.rowcount or 0)  # type: ignore[attr-defined]

    def pending_count(self) -> int:
        with self._sessions() as session:
            return len(list(session.scalars(select(IdentityPending.state_sha256))))
