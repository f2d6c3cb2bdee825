"""Where each database projection has read up to, per topic partition, kept in the same
database as its rows and written in the same transaction (streams/committed.py seeks to
these offsets when it is given a partition; Kafka holds no committed offset for them).

A batch is admitted inside the transaction that writes its rows: the stored offsets of its
partitions are read (locked on PostgreSQL; on SQLite the write lock serialises writers),
every item below them is dropped as already written, and the offsets move to the batch's
end, never back. So a replay writes nothing twice, and a stale owner that lost its
partitions while writing a batch cannot move an offset back nor write again what the new
owner wrote (docs/reliability.md, "The database projection").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import BigInteger, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from storage.base import Base

TopicPartitionKey = tuple[str, int]


class StreamOffset(Base):
    """The next offset a projection has still to write, per topic partition."""

    __tablename__ = "stream_offsets"

    consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
    topic: Mapped[str] = mapped_column(String(200), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_offset: Mapped[int] = mapped_column(BigInteger)


@dataclasses.dataclass(frozen=True, slots=True)
class Source:
    """Where a batch came from: the projection, the (topic, partition, offset) of each item
    handed to the repository (in the items' order), and the next offset of every partition
    the batch read (messages that made no item, e.g. invalid events, count too)."""

    consumer: str
    positions: Sequence[tuple[str, int, int]]
    ends: Mapping[TopicPartitionKey, int]


def admit(session: Session, source: Source) -> list[bool]:
    """In the caller's transaction: which items are still to be written (``True``), and the
    stored offsets moved to the batch's ends (only forward). Commit with the rows."""
    wanted = set(source.ends) | {(t, p) for t, p, _ in source.positions}
    if not wanted:
        return []
    query = (
        select(StreamOffset)
        .where(
            StreamOffset.consumer == source.consumer,
            StreamOffset.topic.in_(sorted({topic for topic, _ in wanted})),
        )
        .with_for_update()
    )
    held = {(row.topic, row.partition): row for row in session.scalars(query)}
    stored = {tp: row.next_offset for tp, row in held.items()}
    fresh = [offset >= stored.get((t, p), 0) for t, p, offset in source.positions]
    for (topic, partition), end in source.ends.items():
        row = held.get((topic, partition))
        if row is None:
            session.add(
                StreamOffset(
                    consumer=source.consumer, topic=topic, partition=partition, next_offset=end
                )
            )
        elif end > row.next_offset:
            row.next_offset = end
    session.flush()
    return fresh


class StreamOffsets:
    """Reads of the stored offsets (the writes happen in ``admit``, with the rows)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def load(self, consumer: str, tps: Iterable[TopicPartitionKey]) -> dict[TopicPartitionKey, int]:
        """The next offsets of ``tps`` (absent: nothing written yet from that partition)."""
        wanted = set(tps)
        if not wanted:
            return {}
        with self._sessions() as session:
            rows = session.execute(
                select(StreamOffset.topic, StreamOffset.partition, StreamOffset.next_offset).where(
                    StreamOffset.consumer == consumer,
                    StreamOffset.topic.in_(sorted({topic for topic, _ in wanted})),
                )
            ).all()
        return {(t, p): o for t, p, o in rows if (t, p) in wanted}
