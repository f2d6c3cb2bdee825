"""Where each of our own consumers has written up to, per topic partition, kept in the
database its output goes to (``agents/gaps.py`` reads the missing range when a stream
jumps past it)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import BigInteger, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from storage.base import Base

TopicPartitionKey = tuple[str, int]


class ConsumerMark(Base):
    """The next offset a consumer has still to write, per topic partition."""

    __tablename__ = "consumer_marks"

    consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
    topic: Mapped[str] = mapped_column(String(200), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_offset: Mapped[int] = mapped_column(BigInteger)


class ConsumerMarks:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def get(self, consumer: str, tps: Iterable[TopicPartitionKey]) -> dict[TopicPartitionKey, int]:
        wanted = set(tps)
        if not wanted:
            return {}
        with self._sessions() as session:
            rows = session.execute(
                select(ConsumerMark.topic, ConsumerMark.partition, ConsumerMark.next_offset).where(
                    ConsumerMark.consumer == consumer,
                    ConsumerMark.topic.in_(sorted({topic for topic, _ in wanted})),
                )
            ).all()
        return {(t, p): o for t, p, o in rows if (t, p) in wanted}

    def advance(self, consumer: str, next_offsets: Mapping[TopicPartitionKey, int]) -> None:
        """Move marks forward only (a replay never moves one back)."""
        if not next_offsets:
            return
        with self._sessions() as session, session.begin():
            for (topic, partition), offset in next_offsets.items():
                mark = session.get(ConsumerMark, (consumer, topic, partition))
                if mark is None:
                    session.add(
                        ConsumerMark(
                            consumer=consumer, topic=topic, partition=partition, next_offset=offset
                        )
                    )
                elif offset > mark.next_offset:
                    mark.next_offset = offset
