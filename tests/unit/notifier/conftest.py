"""Notifier unit fixtures: a migrated SQLite database and its session factory."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from storage.database import make_engine, make_session_factory
from storage.migrate import upgrade


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'notifier.db'}"
    upgrade(url)
    return url


@pytest.fixture
def sessions(database_url: str) -> sessionmaker[Session]:
    return make_session_factory(make_engine(database_url))
