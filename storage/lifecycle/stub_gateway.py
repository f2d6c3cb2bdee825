"""Persistence of the payment-gateway stub's ledger."""

from __future__ import annotations

from sqlalchemy import (
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from storage.lifecycle.tables import (
    StubGatewayEntry,
)


class StubLedgerRepository:
    """Persistence of the gateway stub's ledger (``lifecycle.gateway.StubGateway``)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def get(self, key: str) -> StubGatewayEntry | None:
        with self._sessions() as session:
            return session.get(StubGatewayEntry, key)

    def insert(self, entry: StubGatewayEntry) -> tuple[StubGatewayEntry, bool]:
        """Insert, or return the entry another caller stored first (and False)."""
        try:
            with self._sessions() as session, session.begin():
                session.add(entry)
            return entry, True
        except IntegrityError:
            existing = self.get(entry.idempotency_key)
            assert existing is not None
            return existing, False

    def settle(self, key: str) -> None:
        with self._sessions() as session, session.begin():
            session.execute(
                update(StubGatewayEntry)
                .where(
                    StubGatewayEntry.idempotency_key == key, StubGatewayEntry.status == "pending"
                )
                .values(status="succeeded")
            )

    def entries(self, pinfl: str | None = None) -> list[StubGatewayEntry]:
        with self._sessions() as session:
            query = select(StubGatewayEntry).order_by(StubGatewayEntry.created_at)
            if pinfl is not None:
                query = query.where(StubGatewayEntry.pinfl == pinfl)
            return list(session.scalars(query))
