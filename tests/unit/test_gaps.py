"""Reading back what faust skipped: marks in the database and the gap filler."""

from __future__ import annotations

from pathlib import Path

from agents.gaps import fill_gaps, next_offsets
from agents.ingest_batch import Message
from storage.consumer_marks import ConsumerMarks
from storage.database import make_engine, make_session_factory
from storage.migrate import upgrade


class FakeReader:
    """Kafka's log of one partition, as GapReader reads it."""

    def __init__(self, log: list[Message]) -> None:
        self.log = log
        self.reads: list[tuple[str, int, int, int]] = []

    async def earliest(self, tps: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        starts: dict[tuple[str, int], int] = {}
        for m in self.log:
            key = (m.topic, m.partition)
            if key in tps:
                starts[key] = min(starts.get(key, m.offset), m.offset)
        return starts

    async def read(self, topic: str, partition: int, start: int, end: int) -> list[Message]:
        self.reads.append((topic, partition, start, end))
        return [
            m
            for m in self.log
            if (m.topic, m.partition) == (topic, partition) and start <= m.offset < end
        ]


def messages(topic: str, partition: int, offsets: range) -> list[Message]:
    return [Message(topic, partition, o, None, f"{o}".encode()) for o in offsets]


async def test_a_batch_past_its_mark_gets_the_skipped_range_first() -> None:
    log = messages("returns.v1", 0, range(0, 30)) + messages("returns.v1", 1, range(0, 5))
    reader = FakeReader(log)
    batch = messages("returns.v1", 0, range(20, 30)) + messages("returns.v1", 1, range(3, 5))
    marks = {("returns.v1", 0): 12, ("returns.v1", 1): 3}
    filled = await fill_gaps(batch, marks, reader)  # type: ignore[arg-type]
    assert [m.offset for m in filled if m.partition == 0] == list(range(12, 30))
    assert [m.offset for m in filled if m.partition == 1] == [3, 4]
    assert reader.reads == [("returns.v1", 0, 12, 20)]
    assert next_offsets(filled) == {("returns.v1", 0): 30, ("returns.v1", 1): 5}


async def test_a_replay_below_the_mark_reads_nothing() -> None:
    reader = FakeReader(messages("t", 0, range(0, 10)))
    batch = messages("t", 0, range(5, 8))
    assert await fill_gaps(batch, {("t", 0): 9}, reader) == batch  # type: ignore[arg-type]
    assert reader.reads == []


async def test_with_no_mark_yet_a_first_batch_past_the_log_start_was_skipped_too() -> None:
    reader = FakeReader(messages("t", 0, range(3, 10)))  # retention removed 0..2
    batch = messages("t", 0, range(6, 10))
    filled = await fill_gaps(batch, {}, reader)  # type: ignore[arg-type]
    assert [m.offset for m in filled] == list(range(3, 10))
    from_start = messages("t", 0, range(3, 5))
    assert await fill_gaps(from_start, {}, reader) == from_start  # type: ignore[arg-type]


def test_marks_only_move_forward(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'marks.db'}"
    upgrade(url)
    marks = ConsumerMarks(make_session_factory(make_engine(url)))
    marks.advance("returns_projection", {("returns.v1", 0): 10, ("returns.v1", 1): 4})
    marks.advance("returns_projection", {("returns.v1", 0): 7})  # a replay
    marks.advance("people_projection", {("returns.v1", 0): 99})
    assert marks.get("returns_projection", [("returns.v1", 0), ("returns.v1", 1)]) == {
        ("returns.v1", 0): 10,
        ("returns.v1", 1): 4,
    }
    assert marks.get("returns_projection", [("other", 0)]) == {}
