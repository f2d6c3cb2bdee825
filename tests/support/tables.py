"""Tables of a test's own (a ``MetaData`` of the test module) created in the database under
test (the ``database_url`` fixture: SQLite and PostgreSQL)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import Engine, MetaData, create_engine


@contextlib.contextmanager
def engine_with(metadata: MetaData, url: str) -> Iterator[Engine]:
    """An engine on ``url`` with ``metadata``'s tables created; disposed afterwards."""
    engine = create_engine(url)
    metadata.create_all(engine)
    try:
        yield engine
    finally:
        engine.dispose()
