"""portal security (issue 14): sign-in throttles become progressive delays counted by one
atomic upsert (attempts, last_at, next_at; the old failure windows are dropped: throttle
state is short-lived); an audit log of staff exports of individual rows; sign-in codes
remember the client that asked for them (``binding``).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.drop_table("portal_throttles")
    op.create_table(
        "portal_throttles",
        sa.Column("key", sa.String(120), primary_key=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_at", WHEN, nullable=False),
        sa.Column("next_at", WHEN, nullable=False),
    )
    op.create_table(
        "portal_exports",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("query", sa.String(500), nullable=False),
        sa.Column("exported_at", WHEN, nullable=False),
    )
    op.create_index("ix_portal_exports_username", "portal_exports", ["username"])
    op.create_index("ix_portal_exports_exported_at", "portal_exports", ["exported_at"])
    with op.batch_alter_table("notifier_sign_in_codes") as batch:
        batch.add_column(
            sa.Column("binding", sa.String(64), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("notifier_sign_in_codes") as batch:
        batch.drop_column("binding")
    op.drop_table("portal_exports")
    op.drop_table("portal_throttles")
    op.create_table(
        "portal_throttles",
        sa.Column("key", sa.String(120), primary_key=True),
        sa.Column("window_start", WHEN, nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
    )
