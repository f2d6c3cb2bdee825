"""stream offsets: the database projections keep their input offsets with their rows
(streams/committed.py); the consumer marks of the gap reader go. Return versions store
their JSON zlib-compressed (storage.models.CompressedJSON) and lose two indexes nothing
needs: ≈ 8 KB a resident became ≈ 1.3 KB (docs/benchmarks.md).

Revision ID: 0007
Revises: 0006
"""

import zlib

import orjson
import sqlalchemy as sa
from alembic import op

ZLIB_LEVEL = 1  # storage.models.ZLIB_LEVEL when this was written
CHUNK = 2000

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
    _payload_to("payload_z", sa.LargeBinary(), lambda text: zlib.compress(text, ZLIB_LEVEL))
    with op.batch_alter_table("return_versions") as batch:
        batch.drop_index("ix_return_versions_pinfl")
        batch.drop_index("ix_return_versions_return_id")


def _payload_to(column: str, type_: sa.types.TypeEngine, convert: object) -> None:
    """Rewrite ``return_versions.payload`` through ``convert(json bytes)`` into a new column
    of ``type_``, chunk by chunk, then swap the columns."""
    assert callable(convert)
    op.add_column("return_versions", sa.Column(column, type_, nullable=True))
    connection = op.get_bind()
    last = 0
    while True:
        rows = connection.execute(
            sa.text(
                "SELECT id, payload FROM return_versions WHERE id > :last ORDER BY id LIMIT :n"
            ),
            {"last": last, "n": CHUNK},
        ).all()
        if not rows:
            break
        connection.execute(
            sa.text(f"UPDATE return_versions SET {column} = :value WHERE id = :id").bindparams(
                sa.bindparam("value", type_=type_)
            ),
            [{"id": row_id, "value": convert(_json_bytes(value))} for row_id, value in rows],
        )
        last = rows[-1][0]
    with op.batch_alter_table("return_versions") as batch:
        batch.drop_column("payload")
        batch.alter_column(column, new_column_name="payload", nullable=False)


def _json_bytes(value: object) -> bytes:
    """A payload as JSON bytes, whatever the driver returned (text, bytes, parsed JSON)."""
    if isinstance(value, memoryview):
        value = bytes(value)
    if isinstance(value, bytes):
        return zlib.decompress(value) if value[:1] == b"x" else value
    if isinstance(value, str):
        return value.encode()
    return orjson.dumps(value)


def downgrade() -> None:
    with op.batch_alter_table("return_versions") as batch:
        batch.create_index("ix_return_versions_pinfl", ["pinfl"])
        batch.create_index("ix_return_versions_return_id", ["return_id"])
    _payload_to("payload_json", sa.JSON(), lambda raw: orjson.loads(raw))
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
