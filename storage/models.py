"""SQLAlchemy 2.0 models: the database projection of the streams.

The database is a projection, never the source of truth: every row can be rebuilt from
the Kafka topics. Money columns are integer tiyin (BigInteger).
"""

from __future__ import annotations

import threading
import zlib
from datetime import datetime
from typing import Any

import orjson
import zstandard
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from storage.base import Base

__all__ = ["AcceptedEvent", "Base", "CompressedJSON", "IntegratorApiKey", "ReturnVersion"]

# zstd level 1: a return's JSON (≈ 11 KB, its lines repeat their sources) shrinks ≈ 9.6x
# in ≈ 11 µs; zlib level 1, stored until the eleventh session, took ≈ 37 µs for ≈ 8.9x and
# was a fifth of the projection threads' CPU (docs/benchmarks.md). Rows zlib wrote stay
# readable: a zstd frame starts with its magic number, a zlib stream with 0x78.
ZSTD_LEVEL = 1
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class _Codecs(threading.local):
    """zstandard's (de)compressors are not thread-safe: one pair a thread, made on first use
    (several projections write from the executor's threads at once)."""

    def __init__(self) -> None:
        self.compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        self.decompressor = zstandard.ZstdDecompressor()


_codecs = _Codecs()


def _compress(text: bytes) -> bytes:
    return _codecs.compressor.compress(text)


def _decompress(stored: bytes) -> bytes:
    if stored[:4] == ZSTD_MAGIC:
        return _codecs.decompressor.decompress(stored)
    return zlib.decompress(stored)


class CompressedJSON(TypeDecorator[dict[str, Any]]):
    """A JSON object stored as zstd-compressed compact JSON (bytes): the attribute is the
    same dict to every reader; only SQL cannot look inside it (nothing of ours does)."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(
        self, value: dict[str, Any] | bytes | None, dialect: Dialect
    ) -> bytes | None:
        """A dict is encoded; bytes are taken as its JSON already (a projection stores a
        topic's value as it read it, without decoding it into a dict and back)."""
        if value is None:
            return None
        if isinstance(value, bytes):
            return _compress(value)
        return _compress(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> dict[str, Any] | None:
        if value is None:
            return None
        loaded: dict[str, Any] = orjson.loads(_decompress(value))
        return loaded


class ReturnVersion(Base):
    """One computed version of a taxpayer's return, as published on ``returns.v1``."""

    __tablename__ = "return_versions"
    __table_args__ = (UniqueConstraint("pinfl", "tax_year", "version", name="uq_return_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # No index of their own: the unique (pinfl, tax_year, version) serves lookups by PINFL,
    # and nothing looks a row up by return_id (each cost ≈ 20 bytes a resident).
    return_id: Mapped[str] = mapped_column(String(64))
    pinfl: Mapped[str] = mapped_column(String(14))
    tax_year: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[str] = mapped_column(String(40))
    rules_version: Mapped[str] = mapped_column(String(128))
    reproducibility_hash: Mapped[str] = mapped_column(String(64))
    declaration_required: Mapped[bool]
    tax_computed_tiyin: Mapped[int] = mapped_column(BigInteger)
    tax_credited_tiyin: Mapped[int] = mapped_column(BigInteger)
    balance_tiyin: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column(CompressedJSON)  # the returns.v1 value
    projected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class IntegratorApiKey(Base):
    """A registry operator's key for the HTTP ingest API; only the token's sha256 is kept.

    A registry may hold several active keys at once, so a key is rotated by creating the
    new one, switching the integrator over, then revoking the old one.
    """

    __tablename__ = "integrator_api_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # ``registry`` is reserved by SQLAlchemy's declarative base: the column keeps the name.
    registry_name: Mapped[str] = mapped_column("registry", String(32), index=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    token_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # A sandbox key (issue 17): test taxpayers only, and the sandbox endpoints.
    sandbox: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class AcceptedEvent(Base):
    """An event the ingest API claimed (and, once ``published_at`` is set, the broker acked).

    Keyed by ``(registry, event_id)`` with the event's content digest: a repeat with the
    same digest is a duplicate, one with another digest a conflict.
    """

    __tablename__ = "ingest_accepted_events"
    __table_args__ = (
        Index("ix_ingest_accepted_events_record", "registry", "record_key", "revision"),
    )

    registry_name: Mapped[str] = mapped_column("registry", String(32), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_digest: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(32))
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # The record this event is about (sha256 of "<pinfl>:<tax_year>:<record_id>", the
    # stream's ledger record; no PINFL in the clear), its revision and the digest of what
    # the revision says (action and data): the same revision with another digest is the
    # stream's revision conflict, refused with 409. Null on rows from before 0012.
    record_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    revision: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    record_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AcceptedClose(Base):
    """A year close (``registry.period_closed.v1``) the ingest API claimed and published."""

    __tablename__ = "ingest_period_closes"

    registry_name: Mapped[str] = mapped_column("registry", String(32), primary_key=True)
    tax_year: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64))
    closed_at: Mapped[str] = mapped_column(String(40))
    key_id: Mapped[str] = mapped_column(String(32))
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
