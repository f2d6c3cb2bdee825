"""portal: staff accounts, web sessions, satisfaction surveys, sign-in throttles; registry
feed health (events and dead letters per day, last period closed, counted offsets).
Merges the lifecycle (0004) and notifier (0004n) heads.

Revision ID: 0005
Revises: 0004, 0004n
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = ("0004", "0004n")
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "portal_staff",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(300), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("disabled_at", WHEN),
    )
    op.create_table(
        "portal_sessions",
        sa.Column("token_sha256", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("pending_pinfl", sa.String(14), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("last_seen_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
    )
    op.create_index("ix_portal_sessions_expires_at", "portal_sessions", ["expires_at"])
    op.create_table(
        "portal_surveys",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("pinfl", sa.String(14), nullable=False),
        sa.Column("tax_year", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("answered_at", WHEN, nullable=False),
        sa.UniqueConstraint("pinfl", "tax_year", "trigger", name="uq_portal_survey_answer"),
    )
    op.create_index("ix_portal_surveys_pinfl", "portal_surveys", ["pinfl"])
    op.create_index("ix_portal_surveys_answered_at", "portal_surveys", ["answered_at"])
    op.create_table(
        "portal_throttles",
        sa.Column("key", sa.String(120), primary_key=True),
        sa.Column("window_start", WHEN, nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
    )
    op.create_table(
        "feed_health_daily",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("kind", sa.String(12), primary_key=True),
        sa.Column("registry", sa.String(32), primary_key=True),
        sa.Column("reason_code", sa.String(32), primary_key=True),
        sa.Column("count", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "feed_health_closures",
        sa.Column("registry", sa.String(32), primary_key=True),
        sa.Column("tax_year", sa.Integer(), primary_key=True),
        sa.Column("closed_at", sa.String(40), nullable=False),
        sa.Column("received_at", WHEN, nullable=False),
    )
    op.create_table(
        "feed_health_offsets",
        sa.Column("topic", sa.String(200), primary_key=True),
        sa.Column("partition", sa.Integer(), primary_key=True),
        sa.Column("offset", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "feed_health_offsets",
        "feed_health_closures",
        "feed_health_daily",
        "portal_throttles",
        "portal_surveys",
        "portal_sessions",
        "portal_staff",
    ):
        op.drop_table(table)
