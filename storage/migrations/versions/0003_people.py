"""people: the projection of registry.population.v1

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("pinfl", sa.String(14), primary_key=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("voided", sa.Boolean(), nullable=False),
        sa.Column("full_name", sa.String(200)),
        sa.Column("birth_date", sa.String(10)),
        sa.Column("sex", sa.String(1)),
        sa.Column("region_code", sa.String(16)),
        sa.Column("phone", sa.String(20)),
        sa.Column("preferred_language", sa.String(8)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_people_region_code", "people", ["region_code"])
    op.create_index("ix_people_phone", "people", ["phone"])


def downgrade() -> None:
    op.drop_table("people")
