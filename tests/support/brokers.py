"""The test brokers: the shared one every integration test uses (PROACTAX_BROKER_PORT,
19092/19093 by default, data under ``.run/test/broker-<port>``) and a private one for a
test that must stop and start its broker while other tests run beside it (xdist).

A private broker listens on ports from ``PROACTAX_TEST_EXTRA_BROKER_PORT`` (a worktree's
own range, two ports per xdist worker: ``gw3`` takes first + 6 and first + 7), or else on
two free ports the kernel hands out; its data lives in the test's temporary directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from core.kafka import client_options
from core.settings import Settings
from ops.kafka_security import ADMIN

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]
TEST_RUN_DIR = REPO / ".run" / "test"


def broker_test_settings(port: int, controller_port: int, run_dir: Path) -> Settings:
    """Settings of a test broker on these ports with its data under ``run_dir``."""
    env = {
        # KRaft storage remembers its controller port: one data dir per port pair.
        "PROACTAX_RUN_DIR": str(run_dir / f"broker-{port}"),
        # Explicit, so that settings derived with another run_dir (pipeline_settings) keep
        # the broker's credentials file and CA (<data>/credentials.json, <data>/tls/ca.pem).
        "PROACTAX_BROKER_DATA_DIR": str(run_dir / f"broker-{port}" / "kafka"),
        # The tests' own clients (publishing as the registries, reading returns and dead
        # letters) act as the launcher's admin; every service process the tests start logs
        # in as its own principal (proactax/processes.py), with its own ACLs.
        "PROACTAX_KAFKA_PRINCIPAL": "admin",
        "PROACTAX_BROKER_PORT": str(port),
        "PROACTAX_CONTROLLER_PORT": str(controller_port),
        "PROACTAX_PARTITIONS": "4",
        "PROACTAX_DEVELOPMENT": "1",  # built-in secrets (emulator token, dev key), open /metrics
    }
    return Settings.from_env(env)


def shared_broker_settings() -> Settings:
    return broker_test_settings(
        int(os.environ.get("PROACTAX_BROKER_PORT", "19092")),
        int(os.environ.get("PROACTAX_CONTROLLER_PORT", "19093")),
        TEST_RUN_DIR,
    )


def _free_ports() -> tuple[int, int]:
    with socket.socket() as a, socket.socket() as b:
        a.bind(("127.0.0.1", 0))
        b.bind(("127.0.0.1", 0))
        return int(a.getsockname()[1]), int(b.getsockname()[1])


def private_broker_ports() -> tuple[int, int]:
    first = os.environ.get("PROACTAX_TEST_EXTRA_BROKER_PORT")
    if not first:
        return _free_ports()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")  # set by xdist in each worker
    port = int(first) + 2 * int(worker.removeprefix("gw") or 0)
    return port, port + 1


@contextlib.contextmanager
def private_broker(run_dir: Path) -> Iterator[Settings]:
    """A broker of one test's own (cold: formatted in ``run_dir``), stopped afterwards."""
    from devtools import broker

    settings = broker_test_settings(*private_broker_ports(), run_dir)
    broker.start(settings, topics=None)
    try:
        yield settings
    finally:
        broker.stop(settings)


def pipeline_topics(settings: Settings, names: list[str]) -> list[str]:
    """The topics of one test's pipeline among ``names``: its namespace's and its app's
    (the stores' changelogs, ``<app_id>-<store>-changelog``)."""
    prefixes = (f"{settings.topic_namespace}.", f"{settings.app_id}-")
    return sorted(name for name in names if name.startswith(prefixes))


async def _delete_pipeline_topics(settings: Settings) -> list[str]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id="proactax-tests",
        request_timeout_ms=15_000,
        **client_options(settings, ADMIN),
    )
    await admin.start()
    try:
        doomed = pipeline_topics(settings, list(await admin.list_topics()))
        if doomed:
            await admin.delete_topics(doomed, timeout_ms=15_000)
        return doomed
    finally:
        await admin.close()


def delete_pipeline_topics(settings: Settings) -> None:
    """Delete a finished test's topics from the shared broker, so that it does not grow by
    some 170 partitions per test (every metadata listing, topic creation and broker start
    of the run would carry them). Housekeeping: a failure is logged, not raised."""
    if not settings.topic_namespace:
        return
    try:
        asyncio.run(_delete_pipeline_topics(settings))
    except Exception as error:  # the test itself has passed or failed already
        log.warning("could not delete the topics of %s: %r", settings.topic_namespace, error)
