"""Engines and sessions. Callers pass the URL from their settings; nothing is built at import."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def _json_text(value: Any) -> str:
    """JSON columns are written with orjson: several times faster than the standard
    library for return payloads (docs/benchmarks.md); the text is plain JSON either way."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


JSON_CODEC: dict[str, Any] = {"json_serializer": _json_text, "json_deserializer": orjson.loads}
# hide_parameters: a database error's text never quotes the statement's values (PINFLs,
# phones, names), so an exception that reaches a log carries none of them.
ENGINE_OPTIONS: dict[str, Any] = {**JSON_CODEC, "hide_parameters": True}
SQLITE_CACHE_KIB = -32 * 1024  # negative: KiB, not pages (SQLite's convention)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL and a busy timeout so readers never block writers."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **ENGINE_OPTIONS)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            # 32 MiB of pages a connection, not SQLite's 2 MiB: a transaction's dirty pages
            # fit and are not spilled to the WAL mid-transaction. A receipts batch touches
            # ≈ 2,200 random pages of its primary key's index (16 MiB: 1.5 million
            # receipts 13.4 ► 11.6 µs a receipt, eleventh session); a people batch of
            # 20,000 (agents/projection.py) ≈ 10,000 of its PINFL and phone indexes (a
            # million people: 35 ► 27 µs a person at 16 ► 32 MiB; docs/benchmarks.md,
            # thirteenth session).
            cursor.execute(f"PRAGMA cache_size={SQLITE_CACHE_KIB}")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, **ENGINE_OPTIONS)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
