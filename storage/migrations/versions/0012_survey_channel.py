"""the satisfaction survey in Telegram (issue 15 item 3): an answer remembers its channel
(``portal`` or ``telegram``); the portal and the bot share one answer per occasion.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("portal_surveys") as batch:
        batch.add_column(
            sa.Column("channel", sa.String(16), nullable=False, server_default="portal")
        )


def downgrade() -> None:
    with op.batch_alter_table("portal_surveys") as batch:
        batch.drop_column("channel")
