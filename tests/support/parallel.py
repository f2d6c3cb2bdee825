"""``make test`` on several pytest-xdist workers (``-n``, ``--dist loadgroup``).

Most of an integration test is waiting (for a worker process to start, a consumer group
to settle, a payment to settle), so tests run side by side. What that needs:

- **groups**: tests that share a module-scoped fixture with an order among them run on
  one worker (``pytest.mark.xdist_group`` in the module's ``pytestmark``: test_broker.py,
  test_identity_e2e.py);
- **order**: the scheduler hands out tests in collection order, a few at a time, so the
  longest go first (HEAVY_FIRST) and the unit tests, short and many, fill the gaps at the
  end;
- **one broker**: the first worker that needs it starts it (devtools.broker holds a file
  lock); the worker that started it tells the controller (``workeroutput``), which stops
  it after every worker has finished;
- **the reliability table**: each worker sends its rows to the controller, which prints
  them (tests/support/reliability.py).

Without xdist nothing here changes the order or the fixtures.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

import pytest

from core.settings import Settings

# The slowest files first (their tests' total, longest first, as measured by
# ``--durations``); a file not listed keeps its place after these. Only a hint: a stale
# list makes the run longer, never wrong.
HEAVY_FIRST = [
    "tests/e2e/test_accessibility_e2e.py",
    "tests/reliability/test_worker_kills.py",
    "tests/reliability/test_broker_restart.py",
    "tests/reliability/test_exactly_once.py",
    "tests/integration/test_lifecycle.py",
    "tests/integration/test_lifecycle_rare.py",
    "tests/reliability/test_payment_faults.py",
    "tests/e2e/test_telegram_flow.py",
    "tests/e2e/test_portal_e2e.py",
    "tests/integration/test_notifier.py",
    "tests/reliability/test_database_outage.py",
    "tests/reliability/test_hostile_broker.py",
    "tests/integration/test_season_faults.py",
    "tests/integration/test_restart.py",
    "tests/integration/test_portal_dashboard.py",
    "tests/integration/test_lifecycle_demo.py",
    "tests/integration/test_committed_projection.py",
    "tests/integration/test_pipeline.py",
    "tests/integration/test_ingest_api.py",
    "tests/integration/test_integrator_docs.py",
    "tests/e2e/test_identity_e2e.py",
    "tests/integration/test_broker.py",
    "tests/e2e/test_api_docs_e2e.py",
    "tests/integration/test_kafka_security.py",
]
WORKER_OUTPUT_BROKER = "proactax_broker_launched"
WORKER_OUTPUT_FIGURES = "proactax_reliability_figures"

_broker_launched_by_a_worker = False


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def is_controller(config: pytest.Config) -> bool:
    """The xdist controller (``-n`` given, this process runs no test)."""
    return not is_worker(config) and bool(getattr(config.option, "numprocesses", None))


def _path(item: pytest.Item) -> str:
    return PurePosixPath(item.nodeid.split("::", 1)[0]).as_posix()


def order_heavy_first(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker: the heavy files first (the same order on every worker)."""
    if not is_worker(config):
        return
    rank = {path: i for i, path in enumerate(HEAVY_FIRST)}
    # A stable sort: the listed files by rank, then everything else as collected.
    items.sort(key=lambda item: rank.get(_path(item), len(rank)))


def leave_broker_to_controller(config: pytest.Config) -> bool:
    """Called by the worker that started the shared broker: under xdist the controller
    stops it at the end (True); a plain run stops it itself (False)."""
    if not is_worker(config):
        return False
    config.workeroutput[WORKER_OUTPUT_BROKER] = True  # type: ignore[attr-defined]
    return True


def session_finished(config: pytest.Config, broker_settings: Callable[[], Settings]) -> None:
    """On a worker: hand the reliability rows to the controller. On the controller: stop
    the shared broker if one of this run's workers started it."""
    from tests.support.reliability import RESULTS

    if is_worker(config):
        rows = [dataclasses.asdict(figures) for figures in RESULTS]
        config.workeroutput[WORKER_OUTPUT_FIGURES] = rows  # type: ignore[attr-defined]
    elif is_controller(config) and _broker_launched_by_a_worker:
        from devtools import broker

        broker.stop(broker_settings())


def worker_finished(node: Any) -> None:
    """On the controller, when a worker has finished: what it left for us."""
    from tests.support.reliability import RESULTS, Figures

    global _broker_launched_by_a_worker
    output = getattr(node, "workeroutput", None) or {}
    if output.get(WORKER_OUTPUT_BROKER):
        _broker_launched_by_a_worker = True
    RESULTS.extend(Figures(**row) for row in output.get(WORKER_OUTPUT_FIGURES, []))
