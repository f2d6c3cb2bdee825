"""ingest API parity with the stream: the record and revision of each accepted event (a
reused revision with other content is refused with 409) and the year closes accepted over
HTTP (a second close of a closed year is answered, not published again).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ingest_accepted_events") as batch:
        batch.add_column(sa.Column("record_key", sa.String(64), nullable=True))
        batch.add_column(sa.Column("revision", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("record_digest", sa.String(64), nullable=True))
    op.create_index(
        "ix_ingest_accepted_events_record",
        "ingest_accepted_events",
        ["registry", "record_key", "revision"],
    )
    op.create_table(
        "ingest_period_closes",
        sa.Column("registry", sa.String(32), primary_key=True),
        sa.Column("tax_year", sa.Integer(), primary_key=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("closed_at", sa.String(40), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("ingest_period_closes")
    op.drop_index("ix_ingest_accepted_events_record", table_name="ingest_accepted_events")
    with op.batch_alter_table("ingest_accepted_events") as batch:
        batch.drop_column("record_digest")
        batch.drop_column("revision")
        batch.drop_column("record_key")
