"""stream offsets: the database projections keep their input offsets with their rows
(streams/committed.py); the consumer marks of the gap reader go.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stream_offsets",
        sa.Column("consumer", sa.String(64), primary_key=True),
        sa.Column("topic", sa.String(200), primary_key=True),
        sa.Column("partition", sa.Integer(), primary_key=True),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
    )
    # The marks said how far a projection had written: the same thing, so they carry over
    # (a projection upgraded in place resumes where it stopped instead of from the start).
    op.execute(
        "INSERT INTO stream_offsets (consumer, topic, partition, next_offset) "
        "SELECT consumer, topic, partition, next_offset FROM consumer_marks"
    )
    op.drop_table("consumer_marks")


def downgrade() -> None:
    op.create_table(
        "consumer_marks",
        sa.Column("consumer", sa.String(64), primary_key=True),
        sa.Column("topic", sa.String(200), primary_key=True),
        sa.Column("partition", sa.Integer(), primary_key=True),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
    )
    op.execute(
        "INSERT INTO consumer_marks (consumer, topic, partition, next_offset) "
        "SELECT consumer, topic, partition, next_offset FROM stream_offsets"
    )
    op.drop_table("stream_offsets")
