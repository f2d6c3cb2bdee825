"""PostgreSQL away mid-season while the worker runs and the registries keep publishing:
the worker stays up, the projection holds its batches and retries, and once the database
is back it catches up: every taxpayer's return equals the oracle, nothing lost, no
identical consecutive versions. The fast variant is a 5 s outage, the soak one 30 s.

The test has its own private cluster (it stops it; other tests' server is untouched).
"""

from __future__ import annotations

import dataclasses
import random
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings
from devtools import broker
from devtools.registries_mock.season import generate_season
from storage.migrate import upgrade
from tests.support.postgres import PrivateCluster
from tests.support.reliability import (
    Figures,
    SeasonRun,
    close,
    publish_events,
    record,
    seed_for,
    split_points,
)
from tests.support.waiting import ConditionTimeout, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    people: int
    outages: int
    outage_s: float
    seed: int


VARIANTS = [
    pytest.param(Variant("fast", people=150, outages=1, outage_s=5, seed=51), id="fast"),
    pytest.param(
        Variant("soak", people=600, outages=2, outage_s=30, seed=52),
        id="soak",
        marks=pytest.mark.soak,
    ),
]


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    cluster = PrivateCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def settings(kafka: Settings, cluster: PrivateCluster, tmp_path: Path) -> Settings:
    """One isolated pipeline on the cluster's own database (the cluster goes afterwards)."""
    namespace = f"t{uuid.uuid4().hex[:10]}"
    settings = dataclasses.replace(
        kafka,
        topic_namespace=namespace,
        app_id=f"proactax-{namespace}",
        database_url=cluster.url,
        run_dir=tmp_path / "run",
    )
    broker.create_worker_topics(settings)
    return settings


@pytest.mark.parametrize("variant", VARIANTS)
def test_database_outage_mid_season_then_the_projection_catches_up(
    settings: Settings, cluster: PrivateCluster, tmp_path: Path, variant: Variant
) -> None:
    seed = seed_for(variant.seed)
    rng = random.Random(seed)
    print(f"database outages: seed {seed} (replay with PROACTAX_RELIABILITY_SEED={seed})")
    upgrade(settings.database)
    season = generate_season(
        n_people=variant.people, tax_year=2026, seed=seed, id_prefix=settings.topic_namespace
    )
    figures = record(
        Figures(
            f"database away {variant.outage_s:.0f}s",
            variant.name,
            seed,
            events=len(season.events),
        )
    )
    t0 = time.monotonic()
    cuts = split_points(rng, len(season.events), variant.outages + 1)
    run = SeasonRun(settings, season, tmp_path)
    try:
        publish_events(settings, season.events[: cuts[1]])
        close(settings, season)
        for i in range(variant.outages):
            before, more = run.versions(), rng.randint(1, 25)
            run.wait(
                lambda b=before, m=more: run.progressed(b, m),
                f"{more} more versions before outage {i + 1}",
                timeout_s=90,
            )
            print(f"outage {i + 1}: at {run.versions()} versions for {variant.outage_s}s")
            cluster.stop()
            figures.faults += 1
            down_at = time.monotonic()
            # The registries keep publishing while the database is away.
            publish_events(settings, season.events[cuts[i + 1] : cuts[i + 2]])
            wait_until(  # the outage lasts outage_s; the worker must live through it
                lambda d=down_at: (
                    run.worker.assert_alive() or time.monotonic() - d >= variant.outage_s
                ),
                timeout_s=variant.outage_s + 30,
                what="the outage over with the worker alive",
                describe=run.worker.log_tail,
            )
            cluster.start()
            if i < variant.outages - 1:  # the projection writes again
                back, written = time.monotonic(), run.versions()
                run.wait(lambda w=written: run.versions() > w or run.check(), "writes again")
                figures.recover_s.append(time.monotonic() - back)
        try:
            figures.recover_s.append(run.wait_correct())
        except ConditionTimeout:
            figures.lost = len(run.check.last_problems)
            raise
        figures.duplicates = len(run.duplicates())
        assert run.duplicates() == []
        assert run.workers == 1  # nobody restarted the worker
        assert re.search(  # it waited for the database instead of crashing
            r"projection: database (read|write) failed, retrying", run.worker.log_path.read_text()
        )
    finally:
        figures.seconds = time.monotonic() - t0
        run.stop()
