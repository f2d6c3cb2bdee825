"""A worker killed mid-season (kill -9) loses nothing and counts nothing twice."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.settings import Settings
from devtools.registries_mock.publisher import close_year, publish
from devtools.registries_mock.season import generate_season
from storage.database import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.returns_repository import ReturnsRepository
from tests.support.committed import committed_versions, version_problems
from tests.support.oracle import ProjectionCheck, expected_returns, repeated_identical_versions
from tests.support.waiting import wait_until
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_worker_killed_mid_season_recovers_every_record(
    pipeline_settings: Settings, tmp_path: Path
) -> None:
    settings = pipeline_settings
    upgrade(settings.database)
    repository = ReturnsRepository(make_session_factory(make_engine(settings.database)))
    season = generate_season(
        n_people=250, tax_year=2026, seed=5, id_prefix=settings.topic_namespace
    )
    half = len(season.events) // 2
    first = WorkerProcess(settings, tmp_path / "worker-1.log").start()
    asyncio.run(publish(season.events[:half], settings, settings.topic_namespace))
    # The year closes early (the rest are late corrections and records): returns flow now.
    asyncio.run(close_year(season.tax_year, settings, settings.topic_namespace))
    wait_until(
        lambda: first.assert_alive() or repository.count_versions() >= 50,
        timeout_s=120,
        what="the first worker projected some returns",
        describe=first.log_tail,
    )
    first.kill()

    # The rest of the season arrives while no worker runs.
    asyncio.run(publish(season.events[half:], settings, settings.topic_namespace))
    second = WorkerProcess(settings, tmp_path / "worker-2.log").start()
    try:
        check = ProjectionCheck(repository, expected_returns(season), season.tax_year)
        wait_until(
            lambda: second.assert_alive() or check(),
            timeout_s=180,
            what="every return right after the restart",
            describe=lambda: f"{check!r}\n{second.log_tail()}",
        )
    finally:
        assert second.stop() == 0, second.log_tail()
    assert repeated_identical_versions(repository, season.taxpayers, season.tax_year) == []
    # read_committed: nothing of the killed worker's open transaction became visible
    assert version_problems(committed_versions(settings)) == []
