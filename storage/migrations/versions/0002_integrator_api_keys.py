"""integrator_api_keys and ingest_accepted_events: the HTTP ingest API's keys and its
idempotency record

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "integrator_api_keys",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("registry", sa.String(32), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_integrator_api_keys_registry", "integrator_api_keys", ["registry"])
    op.create_table(
        "ingest_accepted_events",
        sa.Column("registry", sa.String(32), primary_key=True),
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("content_digest", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("ingest_accepted_events")
    op.drop_index("ix_integrator_api_keys_registry", table_name="integrator_api_keys")
    op.drop_table("integrator_api_keys")
