"""The broker stopped and started again mid-season while a registry keeps publishing and
the worker keeps running: both recover by themselves (nobody restarts them) and every
taxpayer's return ends equal to the oracle, with no identical consecutive versions.

The broker is this test's own (tests/support/brokers.py), so that tests running beside it
(xdist) keep the shared one: it comes back on the same ports and data dir, and the test
waits until it answers.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings
from devtools import broker
from devtools.registries_mock.season import generate_season
from storage.migrate import upgrade
from tests.support.brokers import private_broker
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

pytestmark = pytest.mark.integration

PUBLISH_RATE = 150  # events/s: the registry is still publishing while the broker is away


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    people: int
    restarts: int
    seed: int


VARIANTS = [
    pytest.param(Variant("fast", people=150, restarts=1, seed=71), id="fast"),
    pytest.param(
        Variant("soak", people=800, restarts=4, seed=72), id="soak", marks=pytest.mark.soak
    ),
]


@pytest.fixture
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A broker of this test's own, in place of the session's shared one."""
    with private_broker(tmp_path_factory.mktemp("broker")) as settings:
        yield settings


def restart_broker(settings: Settings) -> float:
    """Stop the test's broker (SIGTERM) and start it again; seconds it was away."""
    t0 = time.monotonic()
    assert broker.stop(settings).was_running
    broker.start(settings, topics=None)
    wait_until(lambda: broker.broker_answers(settings), timeout_s=60, what="the broker back")
    return time.monotonic() - t0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("variant", VARIANTS)
def test_broker_restart_mid_season_loses_nothing(
    kafka: Settings, pipeline_settings: Settings, tmp_path: Path, variant: Variant
) -> None:
    settings = pipeline_settings
    seed = seed_for(variant.seed)
    rng = random.Random(seed)
    print(f"broker restarts: seed {seed} (replay with PROACTAX_RELIABILITY_SEED={seed})")
    upgrade(settings.database)
    season = generate_season(
        n_people=variant.people, tax_year=2026, seed=seed, id_prefix=settings.topic_namespace
    )
    figures = record(Figures("broker restart", variant.name, seed, events=len(season.events)))
    t0 = time.monotonic()
    cuts = split_points(rng, len(season.events), variant.restarts + 1)
    run = SeasonRun(settings, season, tmp_path)
    try:
        publish_events(settings, season.events[: cuts[1]])
        close(settings, season)
        for i in range(variant.restarts):
            before, more = run.versions(), rng.randint(1, 25)
            run.wait(
                lambda b=before, m=more: run.progressed(b, m),
                f"{more} more versions before restart {i + 1}",
                timeout_s=90,
            )
            chunk = season.events[cuts[i + 1] : cuts[i + 2]]
            failures: list[BaseException] = []

            def registry(events: list = chunk, errors: list = failures) -> None:
                try:  # a registry that keeps publishing through the outage
                    publish_events(settings, events, rate=PUBLISH_RATE)
                except BaseException as error:
                    errors.append(error)

            publisher = threading.Thread(target=registry, name=f"registry-{i}")
            publisher.start()
            away = restart_broker(kafka)
            figures.faults += 1
            print(f"restart {i + 1}: at {run.versions()} versions, broker away {away:.1f}s")
            publisher.join(timeout=300)
            assert not publisher.is_alive(), "the registry's producer never finished"
            assert failures == [], f"the registry's producer gave up: {failures!r}"
            run.worker.assert_alive()
        try:
            figures.recover_s.append(run.wait_correct())
        except ConditionTimeout:
            figures.lost = len(run.check.last_problems)
            raise
        figures.duplicates = len(run.duplicates())
        assert run.duplicates() == []
        assert run.workers == 1  # nobody restarted the worker
    finally:
        figures.seconds = time.monotonic() - t0
        run.stop()
