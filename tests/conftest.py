"""Shared fixtures. Unit tests use none of the heavy ones; integration tests get a real
Kafka broker (started once per run on test ports, stopped if this run started it), a real
SQLite file or PostgreSQL database, and isolated topics per test.

``make test`` runs on several pytest-xdist workers (tests/support/parallel.py): they share
the one broker (each test has its own topic namespace and consumer groups), each has its
own PostgreSQL server (or database on CI's), and the controller stops the broker at the
end if a worker of this run started it."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings
from tests.support import parallel
from tests.support.brokers import delete_pipeline_topics, shared_broker_settings

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def broker_settings() -> Settings:
    """The test broker: its own ports and data dir, so a developer's `make run` is untouched."""
    return shared_broker_settings()


@pytest.fixture(scope="session")
def kafka(broker_settings: Settings, request: pytest.FixtureRequest) -> Iterator[Settings]:
    from devtools import broker

    # broker.start holds a file lock on the data dir: xdist workers starting at once get
    # one broker, started by the first of them.
    handle = broker.ensure_broker(broker_settings, topics=None)
    yield broker_settings
    if handle.launched:
        # Under xdist the other workers may still be using it: the controller stops it.
        if not parallel.leave_broker_to_controller(request.config):
            broker.stop(broker_settings)


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    from tests.support.postgres import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'proactax.db'}"
        return
    from tests.support.postgres import fresh_database

    with fresh_database(request.getfixturevalue("postgres_admin_url")) as url:
        yield url


@pytest.fixture
def pipeline_settings(kafka: Settings, database_url: str, tmp_path: Path) -> Iterator[Settings]:
    """Settings of one isolated pipeline: own topic namespace, consumer group and database;
    its topics are deleted afterwards."""
    from devtools import broker

    namespace = f"t{uuid.uuid4().hex[:10]}"
    settings = dataclasses.replace(
        kafka,
        topic_namespace=namespace,
        app_id=f"proactax-{namespace}",
        database_url=database_url,
        run_dir=tmp_path / "run",
    )
    broker.create_worker_topics(settings)
    yield settings
    delete_pipeline_topics(settings)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    parallel.order_heavy_first(config, items)


def pytest_sessionfinish(session: pytest.Session) -> None:
    parallel.session_finished(session.config, shared_broker_settings)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """An xdist worker ended (on the controller): collect what it left for the summary."""
    parallel.worker_finished(node)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The reliability tests' table (tests/support/reliability.py), when any of them ran."""
    from tests.support.reliability import terminal_summary

    terminal_summary(terminalreporter)
