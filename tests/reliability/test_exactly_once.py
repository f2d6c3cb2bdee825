"""Exactly-once on the registry path (streams/transactions.py), against real Kafka:

- a *zombie*: a worker stopped (SIGSTOP) in the middle of a transaction, past its session
  timeout; a second worker takes its partitions (fencing it) and finishes the season; the
  zombie, continued (SIGCONT), gets nothing it writes made visible;
- kill -9 between sending a batch's outputs and committing its transaction;
- kill -9 while a worker restores its state from the changelog.

After each: every current return equals the oracle, and ``returns.v1`` read
``read_committed`` holds no (PINFL, year, version) twice and skips none.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import signal
import time
from pathlib import Path

import pytest

from core.settings import Settings
from devtools.registries_mock.season import generate_season
from storage.migrate import upgrade
from streams.state import state_root
from tests.support.committed import committed_versions, version_problems
from tests.support.reliability import Figures, SeasonRun, close, publish_events, record
from tests.support.waiting import wait_until
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration


def _log(worker: WorkerProcess) -> str:
    return worker.log_path.read_text(errors="replace")


def _check_committed(settings: Settings) -> None:
    assert version_problems(committed_versions(settings)) == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_zombie_worker_is_fenced_and_nothing_it_writes_is_visible(
    pipeline_settings: Settings, tmp_path: Path
) -> None:
    settings = pipeline_settings
    upgrade(settings.database)
    season = generate_season(
        n_people=200, tax_year=2026, seed=71, id_prefix=settings.topic_namespace
    )
    figures = record(
        Figures("zombie (SIGSTOP mid-transaction)", "fast", 71, events=len(season.events))
    )
    t0 = time.monotonic()
    half = len(season.events) // 2
    publish_events(settings, season.events[:half])
    close(settings, season)
    zombie = WorkerProcess(
        dataclasses.replace(settings, fault_point="stop_before_commit"), tmp_path / "zombie.log"
    ).start()
    run: SeasonRun | None = None
    try:
        # it stops itself with a batch's returns sent and its transaction open
        wait_until(
            lambda: (
                zombie.process is not None and "fault point before_commit: stopping" in _log(zombie)
            ),
            timeout_s=120,
            what="the first worker stopped mid-transaction",
            describe=lambda: _log(zombie)[-3000:],
        )
        run = SeasonRun(settings, season, tmp_path)  # the second worker
        publish_events(settings, season.events[half:])
        figures.faults = 1
        figures.recover_s.append(run.wait_correct(timeout_s=240))
        assert re.search(r"task \S+-registry-\d+ open", _log(run.worker))
        assert zombie.process is not None
        os.kill(zombie.process.pid, signal.SIGCONT)
        # the zombie carries on into its commit, and is refused
        wait_until(
            lambda: zombie.assert_alive() or "batch failed (ProducerFenced)" in _log(zombie),
            timeout_s=60,
            what="the zombie fenced: its transaction refused, the worker still up",
            describe=lambda: _log(zombie)[-3000:],
        )
        run.wait(run.caught_up, "the second worker through every event")
        figures.recover_s.append(run.wait_correct(timeout_s=120))
        _check_committed(settings)
        figures.duplicates = len(run.duplicates())
        assert run.duplicates() == []
    finally:
        figures.seconds = time.monotonic() - t0
        if zombie.process is not None and zombie.alive():
            os.kill(zombie.process.pid, signal.SIGCONT)
        zombie.stop()
        if run is not None:
            run.stop()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_killed_between_sending_outputs_and_committing_loses_and_repeats_nothing(
    pipeline_settings: Settings, tmp_path: Path
) -> None:
    settings = pipeline_settings
    upgrade(settings.database)
    season = generate_season(
        n_people=200, tax_year=2026, seed=72, id_prefix=settings.topic_namespace
    )
    figures = record(Figures("kill -9 before commit", "fast", 72, events=len(season.events)))
    t0 = time.monotonic()
    half = len(season.events) // 2
    publish_events(settings, season.events[:half])
    close(settings, season)
    doomed = WorkerProcess(
        dataclasses.replace(settings, fault_point="before_commit"), tmp_path / "doomed.log"
    ).start()
    wait_until(
        lambda: not doomed.alive(),
        timeout_s=120,
        what="the worker killed at its fault point",
        describe=lambda: _log(doomed)[-3000:],
    )
    assert "fault point before_commit: killing" in _log(doomed)
    figures.faults = 1
    run = SeasonRun(settings, season, tmp_path)
    try:
        publish_events(settings, season.events[half:])
        figures.recover_s.append(run.wait_correct(timeout_s=240))
        run.wait(run.caught_up, "the worker through every event")
        _check_committed(settings)
        figures.duplicates = len(run.duplicates())
        assert run.duplicates() == []
    finally:
        figures.seconds = time.monotonic() - t0
        run.stop()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_killed_during_state_restore_resumes_from_its_checkpoint(
    pipeline_settings: Settings, tmp_path: Path
) -> None:
    settings = pipeline_settings
    upgrade(settings.database)
    season = generate_season(
        n_people=300, tax_year=2026, seed=73, id_prefix=settings.topic_namespace
    )
    figures = record(Figures("kill -9 during restore", "fast", 73, events=len(season.events)))
    t0 = time.monotonic()
    half = len(season.events) * 2 // 3
    publish_events(settings, season.events[:half])
    run = SeasonRun(settings, season, tmp_path)
    run.wait(run.caught_up, "the first worker folded the first part")
    run.stop()
    # a new machine: no local state, everything restored from the changelogs
    shutil.rmtree(state_root(settings.run_dir, settings.app_id))
    doomed = WorkerProcess(
        dataclasses.replace(settings, fault_point="restore", restore_chunk=20),
        tmp_path / "doomed.log",
    ).start()
    wait_until(
        lambda: not doomed.alive(),
        timeout_s=120,
        what="the worker killed in the middle of a restore",
        describe=lambda: _log(doomed)[-3000:],
    )
    assert "fault point restore: killing" in _log(doomed)
    # the tasks open together: whichever restore applied a chunk first was killed there
    begun = set(re.findall(r"restoring (\S+-ledger-changelog\[\d+\]) from 0 to \d+", _log(doomed)))
    assert begun, _log(doomed)[-3000:]
    figures.faults = 1
    run.settings = dataclasses.replace(settings, restore_chunk=20)
    run.start_worker()
    try:
        close(settings, season)
        publish_events(settings, season.events[half:])
        figures.recover_s.append(run.wait_correct(timeout_s=240))
        # a restore resumed from the checkpoint the killed one left, not from the start
        restores = re.findall(
            r"restoring (\S+-ledger-changelog\[\d+\]) from (\d+) to (\d+)", _log(run.worker)
        )
        resumed = [(tp, a, b) for tp, a, b in restores if tp in begun and 0 < int(a) < int(b)]
        assert resumed, (begun, restores)
        run.wait(run.caught_up, "the worker through every event")
        _check_committed(settings)
        figures.duplicates = len(run.duplicates())
        assert run.duplicates() == []
    finally:
        figures.seconds = time.monotonic() - t0
        run.stop()
