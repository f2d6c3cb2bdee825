"""StallWatch: a partition whose read position stays behind the log's end for two checks
is due for a seek back to it (faust may have dropped the re-read, or skipped the last
messages of the partition so that no later one shows the gap)."""

from __future__ import annotations

from agents.ingest_batch import StallWatch

P0, P1, P2 = ("registry.payroll.v1", 0), ("registry.payroll.v1", 1), ("registry.payroll.v1", 2)


def test_a_position_behind_the_end_without_progress_is_sought_to() -> None:
    watch = StallWatch(ticks=2)
    ends = {P0: 2000, P1: 40, P2: 10}
    positions = {P0: 1514, P1: 30, P2: 10}  # P2 is at its end
    assert watch.due(positions, ends) == {}
    positions[P1] = 35  # P1 progresses
    assert watch.due(positions, ends) == {}
    assert watch.due(positions, ends) == {P0: 1514}  # P0: two checks without progress
    assert watch.due(positions, ends) == {P1: 35}  # P1 stalls too; P0 counts again
    assert watch.due(positions, ends) == {P0: 1514}  # still stuck: sought again
    positions[P0] = 2000  # read up to the end
    assert watch.due(positions, ends) == {P1: 35}
    assert watch.due(positions, ends) == {}


def test_unknown_positions_and_ends_are_left_alone() -> None:
    watch = StallWatch(ticks=1)
    positions: dict[tuple[str, int], int | None] = {P0: None, P1: 5}
    ends: dict[tuple[str, int], int | None] = {P0: 100, P1: None}
    for _ in range(3):
        assert watch.due(positions, ends) == {}
