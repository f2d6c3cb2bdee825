"""SMS outbox expiry: a one-time code's message is deleted once the code has expired.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifier_sms_outbox") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_notifier_sms_outbox_expires_at", "notifier_sms_outbox", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_notifier_sms_outbox_expires_at", "notifier_sms_outbox")
    with op.batch_alter_table("notifier_sms_outbox") as batch:
        batch.drop_column("expires_at")
