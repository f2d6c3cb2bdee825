"""One-time portal sign-in codes (HMAC-hashed), with their attempts."""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta

from sqlalchemy import (
    Integer,
    String,
    func,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from storage.base import Base
from storage.types import UtcDateTime


class SignInCode(Base):
    """A one-time portal sign-in code (HMAC-hashed), with its attempts."""

    __tablename__ = "notifier_sign_in_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pinfl: Mapped[str] = mapped_column(String(14), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The client that asked for the code (the portal's throttle client): a code is tried
    # only from there, so nobody elsewhere can burn it with wrong guesses (issue 14).
    binding: Mapped[str] = mapped_column(String(64), default="")


class SignInCodes:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def issue(
        self,
        pinfl: str,
        code_hash: str,
        channel: str,
        now: datetime,
        ttl: timedelta,
        binding: str = "",
    ) -> None:
        """A new code; any earlier unused code of this taxpayer and client stops working."""
        with self._sessions() as session:
            session.execute(
                update(SignInCode)
                .where(
                    SignInCode.pinfl == pinfl,
                    SignInCode.binding == binding,
                    SignInCode.used_at.is_(None),
                )
                .values(used_at=now)
            )
            session.add(
                SignInCode(
                    pinfl=pinfl,
                    code_hash=code_hash,
                    channel=channel,
                    created_at=now,
                    expires_at=now + ttl,
                    attempts=0,
                    binding=binding,
                )
            )
            session.commit()

    def last_issued(self, pinfl: str) -> datetime | None:
        with self._sessions() as session:
            return session.scalar(
                select(func.max(SignInCode.created_at)).where(SignInCode.pinfl == pinfl)
            )

    def verify(
        self,
        pinfl: str,
        code_hash: str | tuple[str, ...],
        now: datetime,
        max_attempts: int,
        binding: str = "",
    ) -> str:
        """``ok`` (the code is used up), ``wrong``, ``too_many`` or ``none`` (no live code).
        ``code_hash``: one hash, or one per key accepted during a key rotation.

        The attempt is counted first, by one guarded ``UPDATE .. RETURNING`` (SQLite
        ignores ``FOR UPDATE``), so concurrent guesses never exceed ``max_attempts``."""
        newest = (
            select(func.max(SignInCode.id))
            .where(
                SignInCode.pinfl == pinfl,
                SignInCode.binding == binding,
                SignInCode.used_at.is_(None),
                SignInCode.expires_at > now,
            )
            .scalar_subquery()
        )
        with self._sessions() as session, session.begin():
            # a write first: SQLite then takes its write lock at once (a read first could
            # fail with "database is locked" when another guess wrote in between)
            counted = session.execute(
                update(SignInCode)
                .where(SignInCode.id == newest, SignInCode.attempts < max_attempts)
                .values(attempts=SignInCode.attempts + 1)
                .returning(SignInCode.id, SignInCode.attempts, SignInCode.code_hash)
            ).first()
            if counted is None:
                return "none"  # no live code (never sent, expired, used or burnt)
            code_id, attempts, stored = int(counted[0]), int(counted[1]), str(counted[2])
            hashes = (code_hash,) if isinstance(code_hash, str) else code_hash
            right = any(hmac.compare_digest(stored.encode(), h.encode()) for h in hashes)
            if right or attempts >= max_attempts:  # used up, or burnt: ask for a new code
                used = session.execute(
                    update(SignInCode)
                    .where(SignInCode.id == code_id, SignInCode.used_at.is_(None))
                    .values(used_at=now)
                )
                if right:
                    return "ok" if getattr(used, "rowcount", 0) == 1 else "none"
                return "too_many"
            return "wrong"
