"""Migration 0007: consumer marks become stream offsets, return payloads are compressed
(their JSON is the same to every reader), and the way back restores both."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storage.all_models import Base
from storage.database import make_engine, make_session_factory
from storage.lifecycle.tables import LifecycleReturn
from storage.migrate import alembic_config, upgrade
from storage.returns_repository import ReturnsRepository
from storage.stream_offsets import StreamOffsets

NOW = datetime(2027, 2, 1, tzinfo=UTC)
PINFL = "31403850261230"
JSON = sa.bindparam("p", type_=sa.JSON())


def test_upgrade_carries_marks_and_payloads_over_and_downgrade_restores_them(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    command.upgrade(alembic_config(url), "0006")
    payload = {"pinfl": PINFL, "lines": [{"code": "employment.gross", "amount_tiyin": 1}]}
    with make_engine(url).begin() as connection:
        connection.execute(
            sa.text("INSERT INTO consumer_marks VALUES ('returns_projection', 'returns.v1', 0, 42)")
        )
        connection.execute(
            sa.text(
                "INSERT INTO return_versions (return_id, pinfl, tax_year, version, computed_at, "
                "rules_version, reproducibility_hash, declaration_required, tax_computed_tiyin, "
                "tax_credited_tiyin, balance_tiyin, payload, projected_at) VALUES "
                "('r1', :pinfl, 2026, 1, 'x', 'v', 'h', false, 1, 2, 3, :p, :t)"
            ).bindparams(JSON),
            {"pinfl": PINFL, "p": payload, "t": NOW},
        )
        connection.execute(
            sa.text(
                "INSERT INTO lifecycle_returns (return_id, pinfl, tax_year, state, version, "
                "balance_tiyin, declaration_required, paid_net_tiyin, payload, created_at, "
                "updated_at, row_version) VALUES "
                "('r1', :pinfl, 2026, 'computed', 1, 3, false, 0, :p, :t, :t, 1)"
            ).bindparams(JSON),
            {"pinfl": PINFL, "p": payload, "t": NOW},
        )
    upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    assert ReturnsRepository(sessions).versions(PINFL, 2026)[0].payload == payload
    with sessions() as session:
        assert session.get(LifecycleReturn, "r1").payload == payload  # type: ignore[union-attr]
    assert StreamOffsets(sessions).load("returns_projection", [("returns.v1", 0)]) == {
        ("returns.v1", 0): 42
    }
    with engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT payload FROM return_versions")).scalar_one()
        assert isinstance(stored, bytes) and len(stored) < len(str(payload))
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []

    command.downgrade(alembic_config(url), "0006")
    with make_engine(url).connect() as connection:
        for table in ("return_versions", "lifecycle_returns"):
            text = connection.execute(sa.text(f"SELECT payload FROM {table}")).scalar_one()
            assert orjson.loads(text) == payload
        assert connection.execute(sa.text("SELECT * FROM consumer_marks")).all() == [
            ("returns_projection", "returns.v1", 0, 42)
        ]
