"""The registry loop's feed-health sweep runs beside the loop, one at a time: a database
that is slow (another worker holding SQLite's write lock) or away never holds a batch."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings
from streams import transactions
from streams.transactions import RegistryPath


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


async def test_a_slow_sweep_does_not_hold_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transactions, "PROGRESS_EVERY_S", 0.0)
    sweep = SlowSweep()
    path = path_with(sweep, tmp_path)

    await asyncio.wait_for(path.report_progress(), timeout=1.0)  # returns, sweep pending
    await asyncio.sleep(0)  # the sweep task starts
    assert sweep.calls == 1
    assert path.sweep is not None and not path.sweep.done()

    await asyncio.wait_for(path.report_progress(), timeout=1.0)
    await asyncio.sleep(0)
    assert sweep.calls == 1, "a second sweep started while the first was writing"

    sweep.release.set()
    await asyncio.wait_for(path.sweep, timeout=1.0)
    await path.report_progress()
    await asyncio.sleep(0)
    assert sweep.calls == 2, "the next sweep did not start once the first was done"
    await asyncio.wait_for(path.sweep, timeout=1.0)
