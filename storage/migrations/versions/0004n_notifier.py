"""notifier: Telegram links, link tokens, button menus, conversations, deliveries, inbox,
sign-in codes, rate slots, status-event outbox, SMS stub outbox

Revision ID: 0004n
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004n"
down_revision = "0003"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notifier_telegram_links",
        sa.Column("chat_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("pinfl", sa.String(14), nullable=False, unique=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("linked_via", sa.String(16), nullable=False),
        sa.Column("linked_at", TZ, nullable=False),
        sa.Column("language", sa.String(8)),
        sa.Column("reachable", sa.Boolean(), nullable=False),
        sa.Column("unreachable_since", TZ),
        sa.Column("last_sent_at", TZ),
    )
    op.create_table(
        "notifier_link_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("pinfl", sa.String(14), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("used_at", TZ),
        sa.Column("used_by_chat", sa.BigInteger()),
    )
    op.create_index("ix_notifier_link_tokens_pinfl", "notifier_link_tokens", ["pinfl"])
    op.create_table(
        "notifier_button_menus",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("pinfl", sa.String(14), nullable=False),
        sa.Column("screen", sa.String(32), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("used_at", TZ),
    )
    op.create_index("ix_notifier_button_menus_chat_id", "notifier_button_menus", ["chat_id"])
    op.create_table(
        "notifier_conversations",
        sa.Column("chat_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "notifier_deliveries",
        sa.Column("delivery_id", sa.String(64), primary_key=True),
        sa.Column("dedupe_key", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("notice_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("pinfl", sa.String(14), nullable=False),
        sa.Column("tax_year", sa.Integer(), nullable=False),
        sa.Column("return_id", sa.String(64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("deadline", sa.String(10), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("not_before", TZ, nullable=False),
        sa.Column("owner", sa.String(64)),
        sa.Column("claim_id", sa.String(36)),
        sa.Column("lease_until", TZ),
        sa.Column("detail", sa.String(500), nullable=False),
        sa.Column("chat_id", sa.BigInteger()),
        sa.Column("message_id", sa.BigInteger()),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("notice", sa.JSON(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("sent_at", TZ),
        sa.UniqueConstraint("dedupe_key", "channel", name="uq_notifier_delivery"),
    )
    op.create_index(
        "ix_notifier_deliveries_due", "notifier_deliveries", ["status", "channel", "not_before"]
    )
    op.create_index("ix_notifier_deliveries_claim", "notifier_deliveries", ["claim_id"])
    op.create_index("ix_notifier_deliveries_pinfl", "notifier_deliveries", ["pinfl"])
    op.create_table(
        "notifier_inbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("pinfl", sa.String(14), nullable=False),
        sa.Column("dedupe_key", sa.String(200), nullable=False),
        sa.Column("notice_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("tax_year", sa.Integer(), nullable=False),
        sa.Column("return_id", sa.String(64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("verification_code", sa.String(16), nullable=False),
        sa.Column("notice", sa.JSON(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("read_at", TZ),
        sa.UniqueConstraint("pinfl", "dedupe_key", name="uq_notifier_inbox"),
    )
    op.create_index("ix_notifier_inbox_pinfl", "notifier_inbox", ["pinfl"])
    op.create_index(
        "ix_notifier_inbox_verification_code", "notifier_inbox", ["verification_code"]
    )
    op.create_table(
        "notifier_sign_in_codes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("pinfl", sa.String(14), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("used_at", TZ),
        sa.Column("attempts", sa.Integer(), nullable=False),
    )
    op.create_index("ix_notifier_sign_in_codes_pinfl", "notifier_sign_in_codes", ["pinfl"])
    op.create_table(
        "notifier_rate_slots",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("next_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "notifier_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("pinfl", sa.String(14), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
    )
    op.create_table(
        "notifier_sms_outbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("pinfl", sa.String(14), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_notifier_sms_outbox_pinfl", "notifier_sms_outbox", ["pinfl"])


def downgrade() -> None:
    for table in (
        "notifier_sms_outbox",
        "notifier_events",
        "notifier_rate_slots",
        "notifier_sign_in_codes",
        "notifier_inbox",
        "notifier_deliveries",
        "notifier_conversations",
        "notifier_button_menus",
        "notifier_link_tokens",
        "notifier_telegram_links",
    ):
        op.drop_table(table)
