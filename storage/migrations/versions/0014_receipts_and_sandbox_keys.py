"""issue 17 items 5 and 7: receipts of registry events (the projection of
``registry.<registry>.receipts.v1`` that the HTTP API reads) and sandbox API keys.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_receipts",
        sa.Column("registry", sa.String(32), primary_key=True),
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("record_id", sa.String(64), nullable=True),
        sa.Column("revision", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason_code", sa.String(32), nullable=True),
        sa.Column("field", sa.String(256), nullable=True),
        sa.Column("reason", sa.String(2000), nullable=True),
        sa.Column("at", sa.String(40), nullable=False),
    )
    with op.batch_alter_table("integrator_api_keys") as batch:
        batch.add_column(
            sa.Column("sandbox", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("integrator_api_keys") as batch:
        batch.drop_column("sandbox")
    op.drop_table("ingest_receipts")
