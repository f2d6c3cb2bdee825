"""Migration 0002 creates exactly the tables the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core.settings import Settings
from storage.database import make_engine
from storage.models import Base

TABLES = {"integrator_api_keys", "ingest_accepted_events"}


def test_the_migration_matches_the_models(settings: Settings) -> None:
    engine = make_engine(settings.database)
    with engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    ours = [d for d in diffs if TABLES & {getattr(x, "name", None) for x in _objects(d)}]
    assert ours == []


def _objects(diff: object) -> list[object]:
    items = diff if isinstance(diff, list) else [diff]
    found: list[object] = []
    for item in items:
        for part in item if isinstance(item, tuple) else (item,):
            found.append(part)
            table = getattr(part, "table", None)
            if table is not None:
                found.append(table)
    return found
