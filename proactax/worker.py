"""Composition root of the stream worker: settings ► app, topology, agents, storage."""

from __future__ import annotations

import sys

import faust

from agents import feed_health, period_closed, projection, registry_ingest
from agents import lifecycle as lifecycle_agents
from agents.gaps import GapReader
from contracts.registry_events import ValidationPolicy
from lifecycle.clock import clock_for
from proactax.clock import Clock
from proactax.settings import Settings
from storage.consumer_marks import ConsumerMarks
from storage.database import make_engine, make_session_factory
from storage.feed_health import FeedHealthRepository
from storage.migrate import upgrade
from storage.people import PeopleRepository
from storage.returns_repository import ReturnsRepository
from streams.app import create_app
from streams.topology import declare
from tax import load_parameters


def build_worker_app(settings: Settings, clock: Clock | None = None) -> faust.App:
    clock = clock or clock_for(settings)  # the clock file of compressed seasons, if set
    app = create_app(settings)
    topology = declare(app, settings)
    sessions = make_session_factory(make_engine(settings.database))
    health = FeedHealthRepository(sessions)
    registry_ingest.wire(
        app,
        topology,
        settings,
        clock,
        load_parameters(),
        on_progress=feed_health.RegistrySweep(health, clock),
    )
    period_closed.wire(app, topology, settings, clock)
    projection.wire(
        app,
        topology,
        ReturnsRepository(sessions),
        PeopleRepository(sessions),
        ValidationPolicy.from_settings(settings),
        clock,
        ConsumerMarks(sessions),
        GapReader(settings).close_with(app),
    )
    if settings.worker_lifecycle:
        lifecycle_agents.wire(app, topology, settings, clock, sessions, load_parameters())
    feed_health.wire(app, topology, health, clock)
    return app


# Database writes run in threads (asyncio.to_thread) while the event loop computes returns.
# With CPython's default 5 ms switch interval each write's many short GIL hand-offs wait
# behind the busy loop (a convoy): the projection fell seconds behind a release.
GIL_SWITCH_INTERVAL_S = 0.0005


def run_worker(settings: Settings, loglevel: str = "info") -> int:
    """Run until SIGTERM/SIGINT. The database is migrated first."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    upgrade(settings.database)
    app = build_worker_app(settings)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
    return 0
