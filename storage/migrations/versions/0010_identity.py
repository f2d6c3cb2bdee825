"""portal: identity-provider sign-ins (pending authorizations, provider sessions) and the
documents the portal issued (verification codes).

Revision ID: 0010
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_pending",
        sa.Column("state_sha256", sa.String(64), primary_key=True),
        sa.Column("session_sha256", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("nonce", sa.String(128), nullable=False),
        sa.Column("code_verifier", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_identity_pending_expires_at", "identity_pending", ["expires_at"])
    op.create_table(
        "identity_links",
        sa.Column("session_sha256", sa.String(64), primary_key=True),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_identity_links_expires_at", "identity_links", ["expires_at"])
    op.create_table(
        "issued_documents",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("pinfl", sa.String(14), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("pinfl", "kind", "ref", name="uq_issued_documents_ref"),
    )


def downgrade() -> None:
    op.drop_table("issued_documents")
    op.drop_index("ix_identity_links_expires_at", "identity_links")
    op.drop_table("identity_links")
    op.drop_index("ix_identity_pending_expires_at", "identity_pending")
    op.drop_table("identity_pending")
