"""Every consumer group member of ours heartbeats well inside its session (Kafka asks for
at most a third of it), and often enough that a rebalance is noticed within a second."""

from __future__ import annotations

from core.kafka import group_timing


def test_heartbeats_fit_the_session_and_notice_a_rebalance_within_a_second() -> None:
    timing = group_timing()
    assert timing["heartbeat_interval_ms"] * 3 <= timing["session_timeout_ms"]
    assert timing["heartbeat_interval_ms"] <= 1_000
    # a killed worker's partitions move within Kafka's usual bound, not its 45 s default
    assert timing["session_timeout_ms"] <= 15_000
