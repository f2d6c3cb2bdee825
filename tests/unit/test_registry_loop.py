"""The registry loop (streams/transactions.py) without a broker: the feed-health sweep runs
beside the loop, one at a time; a partition that keeps failing is logged as stuck; the
tasks due after a rebalance open together."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, ProducerFenced

from core.settings import Settings
from streams import transactions
from streams.transactions import RegistryPath, Task


class SlowSweep:
    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()

    async def __call__(self, positions: Any, starts: Any) -> None:
        self.calls += 1
        await self.release.wait()


def path_with(sweep: SlowSweep, tmp_path: Path) -> RegistryPath:
    def no_processors(key: int, stores: dict[str, Any]) -> Any:
        raise AssertionError("no task is opened here")

    return RegistryPath(Settings(run_dir=tmp_path), no_processors, sweep)


async def until(condition: Callable[[], bool], timeout_s: float = 1.0) -> None:
    """Let the loop run the tasks just started until ``condition`` holds, or fail."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met within the deadline")
        await asyncio.sleep(0)  # one turn of the loop, not a timed wait


async def test_a_slow_sweep_does_not_hold_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transactions, "PROGRESS_EVERY_S", 0.0)
    sweep = SlowSweep()
    path = path_with(sweep, tmp_path)

    await asyncio.wait_for(path.report_progress(), timeout=1.0)  # returns, sweep pending
    await until(lambda: sweep.calls == 1)
    first = path.sweep
    assert first is not None and not first.done()

    await asyncio.wait_for(path.report_progress(), timeout=1.0)
    assert path.sweep is first, "a second sweep started while the first was writing"
    assert sweep.calls == 1

    sweep.release.set()
    await asyncio.wait_for(first, timeout=1.0)
    await path.report_progress()
    await until(lambda: sweep.calls == 2)  # the next sweep starts once the first is done
    assert path.sweep is not None
    await asyncio.wait_for(path.sweep, timeout=1.0)


class CommittingProducer:
    """aiokafka's transactional producer, faked: every transaction commits."""

    async def begin_transaction(self) -> None:
        return None

    async def commit_transaction(self) -> None:
        return None


class NothingToDo:
    def process(self, records: list[Any], positions: dict[str, int], outputs: Any) -> list[Any]:
        return []

    def has_work(self) -> bool:
        return False


class ClosingProducer:
    """aiokafka's producer, faked: only what closing a failed task calls."""

    async def abort_transaction(self) -> None:
        return None

    async def stop(self) -> None:
        return None


async def test_a_partition_that_keeps_failing_is_logged_as_stuck_and_cleared_by_progress(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = path_with(SlowSweep(), tmp_path)

    async def fail_once() -> None:
        task = Task(2, "app-registry-2", [], {}, ClosingProducer())
        path.tasks[2] = task
        await path._fail(task, ValueError("a bug in the fold"))

    def stuck_lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelname == "CRITICAL"]

    for _ in range(transactions.STUCK_AFTER - 1):
        await fail_once()
    assert stuck_lines() == []
    await fail_once()
    assert len(stuck_lines()) == 1
    assert stuck_lines()[0].startswith("task app-registry-2 stuck: 5 failed attempts in a row")
    assert "(last: ValueError)" in stuck_lines()[0]

    task = Task(2, "app-registry-2", [], {}, CommittingProducer())
    task.processor = NothingToDo()
    path.tasks[2] = task
    await path._transaction(task, [])  # a batch commits: the partition moves again
    assert 2 not in path.failures
    for _ in range(transactions.STUCK_AFTER - 1):
        await fail_once()
    assert len(stuck_lines()) == 1, "the count did not start again after progress"


async def test_a_fenced_task_is_not_counted_as_stuck(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = path_with(SlowSweep(), tmp_path)
    for _ in range(transactions.STUCK_AFTER):
        task = Task(1, "app-registry-1", [], {}, ClosingProducer())
        path.tasks[1] = task
        await path._fail(task, ProducerFenced())
    assert not [r for r in caplog.records if r.levelname == "CRITICAL"]
    assert 1 not in path.failures


async def test_the_due_tasks_open_together_and_a_failed_one_waits_to_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = path_with(SlowSweep(), tmp_path)
    path.assigned = {transactions.CLOSURES, 0, 1, 2}
    started: list[int] = []
    broker_answers = asyncio.Event()

    async def open_task(key: int) -> None:  # an opening waits for the broker
        started.append(key)
        await broker_answers.wait()
        if key == 1:
            raise KafkaConnectionError("the broker went away")
        path.tasks[key] = Task(key, f"app-registry-{key}", [], {}, ClosingProducer())

    monkeypatch.setattr(path, "_open_task", open_task)
    opening = asyncio.ensure_future(path._open_due_tasks())
    await until(lambda: len(started) == 4)  # every one began before any was answered
    broker_answers.set()
    await asyncio.wait_for(opening, timeout=1.0)
    assert sorted(path.tasks) == [transactions.CLOSURES, 0, 2]
    assert path.retry_at[1] > time.monotonic()  # it waits RETRY_OPEN_S before trying again

    started.clear()
    await path._open_due_tasks()
    assert started == [], "an open task was opened again, or the failed one without its wait"
