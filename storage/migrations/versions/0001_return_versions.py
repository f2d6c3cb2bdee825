"""return_versions: the projection of returns.v1

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "return_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("return_id", sa.String(64), nullable=False),
        sa.Column("pinfl", sa.String(14), nullable=False),
        sa.Column("tax_year", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.String(40), nullable=False),
        sa.Column("rules_version", sa.String(128), nullable=False),
        sa.Column("reproducibility_hash", sa.String(64), nullable=False),
        sa.Column("declaration_required", sa.Boolean(), nullable=False),
        sa.Column("tax_computed_tiyin", sa.BigInteger(), nullable=False),
        sa.Column("tax_credited_tiyin", sa.BigInteger(), nullable=False),
        sa.Column("balance_tiyin", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("projected_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("pinfl", "tax_year", "version", name="uq_return_version"),
    )
    op.create_index("ix_return_versions_pinfl", "return_versions", ["pinfl"])
    op.create_index("ix_return_versions_return_id", "return_versions", ["return_id"])


def downgrade() -> None:
    op.drop_table("return_versions")
