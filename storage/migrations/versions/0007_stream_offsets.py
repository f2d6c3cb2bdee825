"""stream offsets: the database projections keep their input offsets with their rows
(streams/committed.py); the consumer marks of the gap reader go. Return versions (and
the lifecycle's copy of the current one) store their JSON zlib-compressed (storage.models.CompressedJSON) and lose two indexes nothing
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
# The tables whose JSON payload is stored compressed, with their primary key: the
# projection's versions and the lifecycle's copy of the current version.
PAYLOADS = (("return_versions", "id"), ("lifecycle_returns", "return_id"))

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
    for table, key in PAYLOADS:
        _payload_to(table, key, "payload_z", sa.LargeBinary(), _compress)
    with op.batch_alter_table("return_versions") as batch:
        batch.drop_index("ix_return_versions_pinfl")
        batch.drop_index("ix_return_versions_return_id")


def _compress(text: bytes) -> bytes:
    return zlib.compress(text, ZLIB_LEVEL)


def _payload_to(
    table: str, key: str, column: str, type_: sa.types.TypeEngine, convert: object
) -> None:
    """Rewrite ``table.payload`` through ``convert(json bytes)`` into a new column of
    ``type_``, chunk by chunk in ``key`` order, then swap the columns."""
    assert callable(convert)
    op.add_column(table, sa.Column(column, type_, nullable=True))
    connection = op.get_bind()
    last: object = None
    while True:
        after = "" if last is None else f"WHERE {key} > :last "
        rows = connection.execute(
            sa.text(f"SELECT {key}, payload FROM {table} {after}ORDER BY {key} LIMIT :n"),
            {"n": CHUNK} if last is None else {"last": last, "n": CHUNK},
        ).all()
        if not rows:
            break
        connection.execute(
            sa.text(f"UPDATE {table} SET {column} = :value WHERE {key} = :key").bindparams(
                sa.bindparam("value", type_=type_)
            ),
            [{"key": k, "value": convert(_json_bytes(value))} for k, value in rows],
        )
        last = rows[-1][0]
    with op.batch_alter_table(table) as batch:
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
    for table, key in PAYLOADS:
        _payload_to(table, key, "payload_json", sa.JSON(), orjson.loads)
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
