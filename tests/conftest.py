"""Shared fixtures. Unit tests use none of the heavy ones; integration tests get a real
Kafka broker (started once per session on test ports, stopped if this session started it),
a real SQLite file or PostgreSQL database, and isolated topics per test."""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings

REPO = Path(__file__).resolve().parent.parent
TEST_RUN_DIR = REPO / ".run" / "test"


@pytest.fixture(scope="session")
def broker_settings() -> Settings:
    """The test broker: its own ports and data dir, so a developer's `make run` is untouched."""
    port = os.environ.get("PROACTAX_BROKER_PORT", "19092")
    run_dir = TEST_RUN_DIR / f"broker-{port}"
    env = {
        # KRaft storage remembers its controller port: one data dir per port pair.
        "PROACTAX_RUN_DIR": str(run_dir),
        # Explicit, so that settings derived with another run_dir (pipeline_settings) keep
        # the broker's credentials file and CA (<data>/credentials.json, <data>/tls/ca.pem).
        "PROACTAX_BROKER_DATA_DIR": str(run_dir / "kafka"),
        # The tests' own clients (publishing as the registries, reading returns and dead
        # letters) act as the launcher's admin; every service process the tests start logs
        # in as its own principal (devtools/processes.py), with its own ACLs.
        "PROACTAX_KAFKA_PRINCIPAL": "admin",
        "PROACTAX_BROKER_PORT": port,
        "PROACTAX_CONTROLLER_PORT": os.environ.get("PROACTAX_CONTROLLER_PORT", "19093"),
        "PROACTAX_PARTITIONS": "4",
        "PROACTAX_DEVELOPMENT": "1",  # built-in secrets (emulator token, dev key), open /metrics
    }
    return Settings.from_env(env)


@pytest.fixture(scope="session")
def kafka(broker_settings: Settings) -> Iterator[Settings]:
    from devtools import broker

    handle = broker.ensure_broker(broker_settings, topics=None)
    yield broker_settings
    if handle.launched:
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
def pipeline_settings(kafka: Settings, database_url: str, tmp_path: Path) -> Settings:
    """Settings of one isolated pipeline: own topic namespace, consumer group and database."""
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
    return settings


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The reliability tests' table (tests/support/reliability.py), when any of them ran."""
    from tests.support.reliability import terminal_summary

    terminal_summary(terminalreporter)
