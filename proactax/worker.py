"""Composition root of the stream worker: settings ► app, topology, agents, storage."""

from __future__ import annotations

import gc
import sys

import faust

from agents import feed_health, projection, receipts_projection, registry_ingest
from agents import lifecycle as lifecycle_agents
from core.clock import Clock, clock_for
from core.settings import Settings
from storage.database import make_engine, make_session_factory
from storage.feed_health import FeedHealthRepository
from storage.migrate import upgrade
from storage.people import PeopleRepository
from storage.receipts import ReceiptRepository
from storage.returns_repository import ReturnsRepository
from storage.stream_offsets import StreamOffsets
from streams.app import create_app
from streams.loop_times import watch_collector
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
        settings,
        clock,
        load_parameters(),
        on_progress=feed_health.RegistrySweep(health, clock),
    )
    offsets = StreamOffsets(sessions)  # the projections' input offsets, beside their rows
    projection.wire(
        app,
        settings,
        topology,
        ReturnsRepository(sessions),
        PeopleRepository(sessions),
        offsets,
        clock,
    )
    if settings.worker_lifecycle:
        lifecycle_agents.wire(app, topology, settings, clock, sessions, load_parameters())
    feed_health.wire(app, settings, topology, health, offsets, clock)
    receipts_projection.wire(app, settings, ReceiptRepository(sessions), offsets)
    return app


# Database writes run in threads (asyncio.to_thread) while the event loop computes returns.
# With CPython's default 5 ms switch interval each write's many short GIL hand-offs wait
# behind the busy loop (a convoy): the projection fell seconds behind a release.
GIL_SWITCH_INTERVAL_S = 0.0005
# CPython's cycle collector at its defaults (700, 10, 10) took ≈ 10 % of a worker's time:
# a batch's records, events and ledgers live through the young collections, so they are
# promoted and counted as growth, and a full collection (≈ 0.1 s, the whole heap, with the
# event loop stopped) came every 1 – 2 s while only 28,744 objects in a 100,000-resident
# season were cyclic garbage (the rest is freed by reference counts). Young generation
# 50,000: 98 full collections (10 s) ► none, 14 s ► 1 s collecting in all; at a million
# residents the main thread's CPU 1,130 ► 1,027 s (docs/benchmarks.md, sixteenth session).
GC_THRESHOLDS = (50_000, 20, 20)


def tune_runtime() -> None:
    """The interpreter settings the worker's event loop wants beside its threads."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    gc.set_threshold(*GC_THRESHOLDS)
    watch_collector()  # its pauses in the registry loop's log line


def run_worker(settings: Settings, loglevel: str = "info") -> int:
    """Run until SIGTERM/SIGINT. The database is migrated first."""
    tune_runtime()
    upgrade(settings.database)
    app = build_worker_app(settings)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
    return 0
