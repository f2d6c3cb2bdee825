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


def test_a_busy_agent_is_not_stalled_on_a_partition_faust_has_not_handed_over() -> None:
    """A backlog: faust fetches other partitions first while the agent completes batches;
    reading P0 ourselves would process the rest of it twice."""
    watch = StallWatch(ticks=2)
    ends, positions = {P0: 2000}, {P0: 100}
    delivered = {P0: 99}  # faust handed over up to our position, not beyond
    for activity in range(1, 6):  # a batch completed between every check
        assert watch.due(positions, ends, delivered, activity) == {}
    # the agent goes idle with P0 still behind: now it is a stall
    assert watch.due(positions, ends, delivered, 5) == {}
    assert watch.due(positions, ends, delivered, 5) == {P0: 100}


def test_a_busy_agent_is_stalled_where_faust_handed_over_past_our_position() -> None:
    """faust delivered (and dropped) the message at our position: the signature of a skip,
    read back even though the agent keeps completing batches of other partitions."""
    watch = StallWatch(ticks=2)
    ends, positions = {P0: 2000, P1: 500}, {P0: 100, P1: 400}
    delivered = {P0: 1999, P1: None}
    assert watch.due(positions, ends, delivered, 1) == {}
    assert watch.due(positions, ends, delivered, 2) == {}
    assert watch.due(positions, ends, delivered, 3) == {P0: 100}


def test_checks_during_a_long_batch_do_not_count() -> None:
    """A release holds the agent for seconds: even a partition faust has handed over is
    only queued behind it, not skipped."""
    watch = StallWatch(ticks=2)
    ends, positions, delivered = {P0: 2000}, {P0: 100}, {P0: 1999}
    for _ in range(5):
        assert watch.due(positions, ends, delivered, 7, working=True) == {}
    assert watch.due(positions, ends, delivered, 7) == {}
    assert watch.due(positions, ends, delivered, 7) == {P0: 100}
