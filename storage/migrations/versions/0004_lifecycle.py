"""lifecycle: returns' states, payments, disputes, the append-only audit log, the outbox,
decision results and the payment-gateway stub's ledger

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "lifecycle_returns",
        sa.Column("return_id", sa.String(64), primary_key=True),
        sa.Column("pinfl", sa.String(14), nullable=False),
        sa.Column("tax_year", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("balance_tiyin", sa.BigInteger(), nullable=False),
        sa.Column("declaration_required", sa.Boolean(), nullable=False),
        sa.Column("paid_net_tiyin", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("notified_version", sa.Integer()),
        sa.Column("notified_on", sa.Date()),
        sa.Column("viewed_version", sa.Integer()),
        sa.Column("agreed_version", sa.Integer()),
        sa.Column("undisputed_tiyin", sa.BigInteger()),
        sa.Column("overdue_since", sa.Date()),
        sa.Column("next_due_on", sa.Date()),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.UniqueConstraint("pinfl", "tax_year", name="uq_lifecycle_taxpayer_year"),
    )
    op.create_index("ix_lifecycle_returns_pinfl", "lifecycle_returns", ["pinfl"])
    op.create_index("ix_lifecycle_returns_state", "lifecycle_returns", ["state"])
    op.create_index("ix_lifecycle_returns_next_due_on", "lifecycle_returns", ["next_due_on"])

    op.create_table(
        "lifecycle_payments",
        sa.Column("payment_id", sa.String(64), primary_key=True),
        sa.Column("idempotency_key", sa.String(64), nullable=False, unique=True),
        sa.Column("return_id", sa.String(64), nullable=False),
        sa.Column("pinfl", sa.String(14), nullable=False),
        sa.Column("tax_year", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("amount_tiyin", sa.BigInteger(), nullable=False),
        sa.Column("principal_tiyin", sa.BigInteger(), nullable=False),
        sa.Column("interest_tiyin", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("reproducibility_hash", sa.String(64), nullable=False),
        sa.Column("requested_at", WHEN, nullable=False),
        sa.Column("settled_at", WHEN),
        sa.Column("provider_ref", sa.String(64), nullable=False),
        sa.Column("account_ref", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
    )
    op.create_index("ix_lifecycle_payments_return_id", "lifecycle_payments", ["return_id"])
    op.create_index("ix_lifecycle_payments_pinfl", "lifecycle_payments", ["pinfl"])
    op.create_index("ix_lifecycle_payments_status", "lifecycle_payments", ["status"])

    op.create_table(
        "lifecycle_disputes",
        sa.Column("dispute_id", sa.String(64), primary_key=True),
        sa.Column("return_id", sa.String(64), nullable=False),
        sa.Column("pinfl", sa.String(14), nullable=False),
        sa.Column("tax_year", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("line_code", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("registry", sa.String(32), nullable=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("reason_code", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("opened_at", WHEN, nullable=False),
        sa.Column("respond_by", sa.Date(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("response_comment", sa.Text(), nullable=False),
        sa.Column("resolved_at", WHEN),
        sa.Column("decision_id", sa.String(64), nullable=False),
    )
    op.create_index("ix_lifecycle_disputes_return_id", "lifecycle_disputes", ["return_id"])
    op.create_index("ix_lifecycle_disputes_pinfl", "lifecycle_disputes", ["pinfl"])
    op.create_index("ix_lifecycle_disputes_respond_by", "lifecycle_disputes", ["respond_by"])
    op.create_index("ix_lifecycle_disputes_status", "lifecycle_disputes", ["status"])

    op.create_table(
        "lifecycle_audit",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("return_id", sa.String(64), nullable=False),
        sa.Column("pinfl", sa.String(14), nullable=False),
        sa.Column("tax_year", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("from_state", sa.String(24)),
        sa.Column("to_state", sa.String(24)),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("ref", sa.String(80), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("occurred_at", WHEN, nullable=False),
        sa.Column("recorded_at", WHEN, nullable=False),
    )
    op.create_index("ix_lifecycle_audit_return_id", "lifecycle_audit", ["return_id"])
    op.create_index("ix_lifecycle_audit_pinfl", "lifecycle_audit", ["pinfl"])
    _append_only("lifecycle_audit")

    op.create_table(
        "lifecycle_outbox",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(80), nullable=False, unique=True),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("return_id", sa.String(64), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("published_at", WHEN),
    )
    op.create_index("ix_lifecycle_outbox_return_id", "lifecycle_outbox", ["return_id"])
    op.create_index("ix_lifecycle_outbox_published_at", "lifecycle_outbox", ["published_at"])

    op.create_table(
        "lifecycle_decisions",
        sa.Column("decision_id", sa.String(64), primary_key=True),
        sa.Column("return_id", sa.String(64), nullable=False),
        sa.Column("pinfl", sa.String(14), nullable=False),
        sa.Column("tax_year", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(8), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(12), nullable=False),
        sa.Column("reason_code", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("current_version", sa.Integer()),
        sa.Column("recorded_at", WHEN, nullable=False),
    )
    op.create_index("ix_lifecycle_decisions_return_id", "lifecycle_decisions", ["return_id"])
    op.create_index("ix_lifecycle_decisions_pinfl", "lifecycle_decisions", ["pinfl"])

    op.create_table(
        "payment_stub_ledger",
        sa.Column("idempotency_key", sa.String(64), primary_key=True),
        sa.Column("operation", sa.String(8), nullable=False),
        sa.Column("pinfl", sa.String(14), nullable=False),
        sa.Column("amount_tiyin", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("provider_ref", sa.String(64), nullable=False),
        sa.Column("account_ref", sa.String(64), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("settle_after", WHEN),
    )
    op.create_index("ix_payment_stub_ledger_pinfl", "payment_stub_ledger", ["pinfl"])


def _append_only(table: str) -> None:
    """Refuse UPDATE and DELETE of audit rows in the database itself."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            f"CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{table} is append-only'; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS lifecycle_audit_append_only ON lifecycle_audit")
        op.execute("DROP FUNCTION IF EXISTS lifecycle_audit_append_only()")
    for table in (
        "payment_stub_ledger",
        "lifecycle_decisions",
        "lifecycle_outbox",
        "lifecycle_audit",
        "lifecycle_disputes",
        "lifecycle_payments",
        "lifecycle_returns",
    ):
        op.drop_table(table)
