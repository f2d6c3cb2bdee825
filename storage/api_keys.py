"""Repositories of the integrator HTTP API: API keys (stored as hashes) and the record of
accepted events that makes the API idempotent on ``(registry, event_id)``.

Callers get frozen dataclasses, never ORM rows. Times are stored in UTC; SQLite hands them
back naive, so they are made aware again on the way out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from storage.models import AcceptedClose, AcceptedEvent, IntegratorApiKey


@dataclasses.dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    key_id: str
    registry: str
    label: str
    token_sha256: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    sandbox: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class AcceptedEventRecord:
    event_id: str
    content_digest: str
    published: bool


class Claim(NamedTuple):
    """An event to claim: its id and digest, and the record revision it is (see 0011)."""

    event_id: str
    content_digest: str
    record_key: str | None = None
    revision: int | None = None
    record_digest: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class RevisionRecord:
    event_id: str
    record_digest: str


@dataclasses.dataclass(frozen=True, slots=True)
class CloseRecord:
    event_id: str
    closed_at: str
    published: bool


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _key_record(row: IntegratorApiKey) -> ApiKeyRecord:
    created_at = _utc(row.created_at)
    assert created_at is not None
    return ApiKeyRecord(
        key_id=row.key_id,
        registry=row.registry_name,
        label=row.label,
        token_sha256=row.token_sha256,
        created_at=created_at,
        expires_at=_utc(row.expires_at),
        revoked_at=_utc(row.revoked_at),
        sandbox=bool(row.sandbox),
    )


class ApiKeyRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add(
        self,
        *,
        key_id: str,
        registry: str,
        label: str,
        token_sha256: str,
        created_at: datetime,
        expires_at: datetime | None,
        sandbox: bool = False,
    ) -> ApiKeyRecord:
        row = IntegratorApiKey(
            sandbox=sandbox,
            key_id=key_id,
            registry_name=registry,
            label=label,
            token_sha256=token_sha256,
            created_at=_utc(created_at),
            expires_at=_utc(expires_at),
            revoked_at=None,
        )
        with self._sessions() as session:
            session.add(row)
            session.commit()
            return _key_record(row)

    def get(self, key_id: str) -> ApiKeyRecord | None:
        with self._sessions() as session:
            row = session.get(IntegratorApiKey, key_id)
            return _key_record(row) if row is not None else None

    def list_keys(self, registry: str | None = None) -> list[ApiKeyRecord]:
        query = select(IntegratorApiKey).order_by(
            IntegratorApiKey.registry_name, IntegratorApiKey.created_at, IntegratorApiKey.key_id
        )
        if registry is not None:
            query = query.where(IntegratorApiKey.registry_name == registry)
        with self._sessions() as session:
            return [_key_record(row) for row in session.scalars(query)]

    def revoke(self, key_id: str, at: datetime) -> ApiKeyRecord | None:
        """Revoke a key; revoking it again keeps the first revocation time."""
        with self._sessions() as session:
            row = session.get(IntegratorApiKey, key_id)
            if row is None:
                return None
            if row.revoked_at is None:
                row.revoked_at = _utc(at)
                session.commit()
            return _key_record(row)


class AcceptedEventRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def lookup(self, registry: str, event_ids: Iterable[str]) -> dict[str, AcceptedEventRecord]:
        wanted = sorted(set(event_ids))
        if not wanted:
            return {}
        with self._sessions() as session:
            rows = session.execute(
                select(
                    AcceptedEvent.event_id,
                    AcceptedEvent.content_digest,
                    AcceptedEvent.published_at,
                ).where(AcceptedEvent.registry_name == registry, AcceptedEvent.event_id.in_(wanted))
            ).all()
        return {
            event_id: AcceptedEventRecord(event_id, digest, published_at is not None)
            for event_id, digest, published_at in rows
        }

    def claim(
        self,
        registry: str,
        events: Sequence[tuple[str, str] | Claim],
        key_id: str,
        at: datetime,
    ) -> bool:
        """Insert ``(event_id, content_digest)`` claims in one transaction.

        Returns False, inserting nothing, when another request claimed one of them first.
        """
        if not events:
            return True
        claimed_at = _utc(at)
        with self._sessions() as session:
            session.add_all(
                AcceptedEvent(
                    registry_name=registry,
                    event_id=claim.event_id,
                    content_digest=claim.content_digest,
                    key_id=key_id,
                    claimed_at=claimed_at,
                    published_at=None,
                    record_key=claim.record_key,
                    revision=claim.revision,
                    record_digest=claim.record_digest,
                )
                for claim in (Claim(*item) for item in events)
            )
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                return False
        return True

    def lookup_revisions(
        self, registry: str, revisions: Iterable[tuple[str, int]]
    ) -> dict[tuple[str, int], RevisionRecord]:
        """The events accepted at these ``(record_key, revision)``s (one each: the first)."""
        wanted = set(revisions)
        if not wanted:
            return {}
        found: dict[tuple[str, int], RevisionRecord] = {}
        with self._sessions() as session:
            rows = session.execute(
                select(
                    AcceptedEvent.record_key,
                    AcceptedEvent.revision,
                    AcceptedEvent.event_id,
                    AcceptedEvent.record_digest,
                )
                .where(
                    AcceptedEvent.registry_name == registry,
                    AcceptedEvent.record_key.in_(sorted({key for key, _ in wanted})),
                )
                .order_by(AcceptedEvent.claimed_at, AcceptedEvent.event_id)
            ).all()
        for record_key, revision, event_id, record_digest in rows:
            at = (record_key, revision)
            if at in wanted and record_digest is not None:
                found.setdefault(at, RevisionRecord(event_id, record_digest))
        return found

    def lookup_close(self, registry: str, tax_year: int) -> CloseRecord | None:
        with self._sessions() as session:
            row = session.get(AcceptedClose, (registry, tax_year))
            if row is None:
                return None
            return CloseRecord(row.event_id, row.closed_at, row.published_at is not None)

    def claim_close(
        self, registry: str, tax_year: int, event_id: str, closed_at: str, key_id: str, at: datetime
    ) -> bool:
        """Claim the close of a year; False when another request claimed it first."""
        with self._sessions() as session:
            session.add(
                AcceptedClose(
                    registry_name=registry,
                    tax_year=tax_year,
                    event_id=event_id,
                    closed_at=closed_at,
                    key_id=key_id,
                    claimed_at=_utc(at),
                    published_at=None,
                )
            )
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                return False
        return True

    def mark_close_published(self, registry: str, tax_year: int, at: datetime) -> None:
        with self._sessions() as session:
            session.execute(
                update(AcceptedClose)
                .where(AcceptedClose.registry_name == registry, AcceptedClose.tax_year == tax_year)
                .values(published_at=_utc(at))
            )
            session.commit()

    def release_close(self, registry: str, tax_year: int) -> None:
        """Drop a close whose publication failed, so a retry may send it again."""
        with self._sessions() as session:
            session.execute(
                delete(AcceptedClose).where(
                    AcceptedClose.registry_name == registry,
                    AcceptedClose.tax_year == tax_year,
                    AcceptedClose.published_at.is_(None),
                )
            )
            session.commit()

    def mark_published(self, registry: str, event_ids: Sequence[str], at: datetime) -> None:
        if not event_ids:
            return
        with self._sessions() as session:
            session.execute(
                update(AcceptedEvent)
                .where(
                    AcceptedEvent.registry_name == registry,
                    AcceptedEvent.event_id.in_(list(event_ids)),
                    AcceptedEvent.published_at.is_(None),
                )
                .values(published_at=_utc(at))
            )
            session.commit()

    def release(self, registry: str, event_ids: Sequence[str]) -> None:
        """Drop claims whose publication failed, so a retry may send them again."""
        if not event_ids:
            return
        with self._sessions() as session:
            session.execute(
                delete(AcceptedEvent).where(
                    AcceptedEvent.registry_name == registry,
                    AcceptedEvent.event_id.in_(list(event_ids)),
                    AcceptedEvent.published_at.is_(None),
                )
            )
            session.commit()
