"""kill -9 of the stream worker at random (seeded) points of a season, several times:
afterwards every taxpayer's current return equals the oracle, no record is lost and no
return has two consecutive versions of identical content.

Kill points vary: while the worker starts and recovers its tables, right after a chunk
of the season is published, or once it has projected a few more versions; after a kill
the next chunk is published either to a running replacement or while no worker runs.
(tests/integration/test_restart.py is the single-kill version.)
"""

from __future__ import annotations

import dataclasses
import random
import time
from pathlib import Path

import pytest

from core.settings import Settings
from devtools.registries_mock.season import generate_season
from storage.migrate import upgrade
from tests.support.reliability import (
    Figures,
    SeasonRun,
    close,
    publish_events,
    record,
    seed_for,
    split_points,
)
from tests.support.waiting import ConditionTimeout

pytestmark = pytest.mark.integration


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    people: int
    kills: int
    seed: int


VARIANTS = [
    pytest.param(Variant("fast", people=200, kills=3, seed=91), id="fast"),
    pytest.param(
        Variant("soak", people=1500, kills=10, seed=92), id="soak", marks=pytest.mark.soak
    ),
]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("variant", VARIANTS)
def test_worker_killed_at_random_points_loses_nothing(
    pipeline_settings: Settings, tmp_path: Path, variant: Variant
) -> None:
    settings = pipeline_settings
    seed = seed_for(variant.seed)
    rng = random.Random(seed)
    print(f"worker kills: seed {seed} (replay with PROACTAX_RELIABILITY_SEED={seed})")
    upgrade(settings.database)
    season = generate_season(
        n_people=variant.people, tax_year=2026, seed=seed, id_prefix=settings.topic_namespace
    )
    figures = record(Figures("worker kill -9", variant.name, seed, events=len(season.events)))
    t0 = time.monotonic()
    cuts = split_points(rng, len(season.events), variant.kills + 1)
    run = SeasonRun(settings, season, tmp_path)
    try:
        for i in range(variant.kills):
            publish_events(settings, season.events[cuts[i] : cuts[i + 1]])
            if i == 0:
                close(settings, season)  # returns flow from now on; the rest are late records
            point = rng.choice(["at once", "after versions", "after versions"])
            if point == "after versions":
                before, more = run.versions(), rng.randint(1, 25)
                run.wait(
                    lambda b=before, m=more: run.progressed(b, m),
                    f"{more} more versions projected before kill {i + 1}",
                    timeout_s=90,
                )
            print(f"kill {i + 1}: after event {cuts[i + 1]} ({point}), {run.versions()} versions")
            run.worker.kill()
            figures.faults += 1
            if rng.random() < 0.5:  # the next chunk arrives while no worker runs
                publish_events(settings, season.events[cuts[i + 1] : cuts[i + 2]])
                cuts[i + 1] = cuts[i + 2]
            run.start_worker()
        publish_events(settings, season.events[cuts[variant.kills] :])
        try:
            figures.recover_s.append(run.wait_correct())
        except ConditionTimeout:
            figures.lost = len(run.check.last_problems)
            raise
        figures.duplicates = len(run.duplicates())
        assert run.duplicates() == []
    finally:
        figures.seconds = time.monotonic() - t0
        run.stop()
