"""``storage.database.make_engine`` on SQLite: every connection gets the settings the
projections rely on (WAL, so readers never block the writer; a 32 MiB page cache, so a
projection batch's index pages are not spilled mid-transaction)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from storage.database import make_engine


def test_every_sqlite_connection_gets_wal_and_a_32_mib_page_cache(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'e.db'}")
    with engine.connect() as first, engine.connect() as second:
        for connection in (first, second):
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA cache_size")).scalar() == -32 * 1024
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
