"""The copy-paste examples in docs/integrators.md work: kcat and Python publish events that
end up in a return, a correction makes a new version, and dead letters can be read.

The examples name the production topics and 127.0.0.1:9092; the test points them at its
own broker and topic namespace and runs them otherwise as written.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from contracts.topics import PERIOD_CLOSED, namespaced
from core.kafka import client_options, credentials
from core.settings import Settings
from storage.database import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.returns_repository import ReturnsRepository
from tests.support.kcat import kcat_environment
from tests.support.portal import running_portal
from tests.support.waiting import wait_until
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "integrators.md"


def example(name: str) -> str:
    match = re.search(rf"<!-- example: {name} -->\n```\w+\n(.*?)```", DOC.read_text(), re.S)
    assert match, f"docs/integrators.md has no example {name!r}"
    return match.group(1)


def retarget(code: str, settings: Settings) -> str:
    """Point an example at the test broker, its CA and this test's topic namespace."""
    code = code.replace("127.0.0.1:9092", settings.bootstrap_servers)
    code = re.sub(r"(?<![\w/])ca\.pem", str(settings.kafka_ca_path), code)
    return re.sub(r"(?<![\w.])registry\.", f"{settings.topic_namespace}.registry.", code)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_documented_examples_reach_a_return(
    pipeline_settings: Settings, tmp_path: Path
) -> None:
    assert shutil.which("kcat"), "kcat is needed: apt-get install kcat (bash .ci/run does)"
    # 2 February 2027: the 2026 cut-off has passed, so returns are computed without closure.
    settings = dataclasses.replace(pipeline_settings, clock_start="2027-02-02T09:00:00+05:00")
    upgrade(settings.database)
    repository = ReturnsRepository(make_session_factory(make_engine(settings.database)))
    # the examples log in as the payroll registry, its password in KAFKA_PASSWORD
    _, password = credentials(settings, "registry-payroll")
    env = kcat_environment(tmp_path / "librdkafka", KAFKA_PASSWORD=password)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        kcat_publish = retarget(example("kcat-publish"), settings)
        assert "sasl.username=registry-payroll" in kcat_publish
        subprocess.run(["bash", "-c", kcat_publish], check=True, env=env, timeout=60)
        first = wait_until(
            lambda: worker.assert_alive() or repository.latest("31403850261230", 2026),
            timeout_s=120,
            what="the kcat event in a return",
            describe=worker.log_tail,
        )
        assert first.payload["totals"]["gross_income_tiyin"] == 1_200_000_000

        kcat_correct = retarget(example("kcat-correct"), settings)
        subprocess.run(["bash", "-c", kcat_correct], check=True, env=env, timeout=60)
        corrected = wait_until(
            lambda: (
                worker.assert_alive()
                or _version_at_least(repository, "31403850261230", first.version + 1)
            ),
            timeout_s=120,
            what="the correction in a new version",
            describe=worker.log_tail,
        )
        assert corrected.payload["totals"]["gross_income_tiyin"] == 1_300_000_000

        script = tmp_path / "publish.py"
        script.write_text(retarget(example("python-publish"), settings))
        subprocess.run([sys.executable, str(script)], check=True, timeout=120, env=env)
        python_return = wait_until(
            lambda: (
                worker.assert_alive()
                or _gross_at_least(repository, "40207920400774", 12 * 800_000_000)
            ),
            timeout_s=120,
            what="the Python example's 12 months in a return",
            describe=worker.log_tail,
        )
        assert python_return.payload["totals"]["gross_income_tiyin"] == 12 * 800_000_000

        # A bad event, then the documented dead-letter reader shows it.
        bad = example("kcat-publish").replace('"month":3', '"month":13')
        bad = bad.replace("pay-2026-03-000123-r1", "pay-2026-13-bad")
        subprocess.run(["bash", "-c", retarget(bad, settings)], check=True, env=env, timeout=60)
        reader = retarget(example("kcat-deadletters"), settings)
        letters = wait_until(
            lambda: (
                worker.assert_alive()
                or subprocess.run(
                    ["bash", "-c", reader], capture_output=True, text=True, env=env, timeout=60
                ).stdout
            ),
            timeout_s=120,
            what="the dead letter readable with kcat",
            describe=worker.log_tail,
        )
        assert '"reason_code": "out_of_range"' in letters and "data.month" in letters
    finally:
        assert worker.stop() == 0, worker.log_tail()


def _version_at_least(repository: ReturnsRepository, pinfl: str, version: int):
    row = repository.latest(pinfl, 2026)
    return row if row is not None and row.version >= version else None


def _gross_at_least(repository: ReturnsRepository, pinfl: str, gross: int):
    row = repository.latest(pinfl, 2026)
    return row if row and row.payload["totals"]["gross_income_tiyin"] >= gross else None


def _close_messages(settings: Settings) -> list[tuple[bytes, dict[str, Any]]]:
    """Every message on the (namespaced) registry.period_closed.v1, read to its end."""

    async def read() -> list[tuple[bytes, dict[str, Any]]]:
        topic = namespaced(PERIOD_CLOSED, settings.topic_namespace)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers,
            **client_options(settings),
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        await consumer.start()
        try:
            partition = TopicPartition(topic, 0)
            consumer.assign([partition])
            await consumer.seek_to_beginning(partition)
            end = (await consumer.end_offsets([partition]))[partition]
            got: list[tuple[bytes, dict[str, Any]]] = []
            async with asyncio.timeout(30):
                while await consumer.position(partition) < end:
                    for messages in (await consumer.getmany(timeout_ms=500)).values():
                        got += [(m.key, json.loads(m.value)) for m in messages]
            return got
        finally:
            await consumer.stop()

    return asyncio.run(read())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_documented_year_close_and_http_examples_work(
    pipeline_settings: Settings, tmp_path: Path
) -> None:
    """kcat-close, curl-publish (then its revision reused: 409) and curl-close (then again:
    200 already_closed), run as written against the test broker and a real portal."""
    assert shutil.which("kcat") and shutil.which("curl")
    settings = pipeline_settings
    _, password = credentials(settings, "registry-payroll")
    env = kcat_environment(tmp_path / "librdkafka", KAFKA_PASSWORD=password)
    subprocess.run(
        ["bash", "-c", retarget(example("kcat-close"), settings)], check=True, env=env, timeout=60
    )
    closes = wait_until(
        lambda: _close_messages(settings), timeout_s=60, what="the kcat close on the topic"
    )
    assert closes == [
        (
            b"payroll",
            {
                "event_id": "closed-payroll-2026",
                "registry": "payroll",
                "schema_version": 1,
                "tax_year": 2026,
                "closed_at": "2027-01-15T09:00:00+05:00",
            },
        )
    ]

    with running_portal(settings, tmp_path / "portal.log", "guide test") as portal:
        http_env = dict(os.environ, PROACTAX_KEY=portal.tokens["rental"])

        def curl(code: str) -> dict[str, Any]:
            code = code.replace("http://127.0.0.1:8080", portal.base_url)
            done = subprocess.run(
                ["bash", "-c", code], check=True, env=http_env, capture_output=True, timeout=60
            )
            answer: dict[str, Any] = json.loads(done.stdout)
            return answer

        publish = example("curl-publish")
        assert curl(publish) == {"accepted": ["rental-2026-000001-r1"], "duplicates": []}
        reuse = publish.replace("rental-2026-000001-r1", "rental-2026-000001-again")
        refused = curl(reuse.replace('"monthly_rent_tiyin":500000000', '"monthly_rent_tiyin":1'))
        assert refused["error"] == "conflict"
        assert [(e["field"], e["reason_code"]) for e in refused["events"]] == [
            ("revision", "conflict")
        ]
        assert "Revision 1 of record 'N-2026-004512-2026'" in refused["events"][0]["reason"]
        closed = curl(example("curl-close"))
        assert (closed["status"], closed["event_id"]) == ("closed", "closed-rental-2026")
        again = curl(example("curl-close").replace("closed-rental-2026", "closed-rental-again"))
        assert (again["status"], again["event_id"]) == ("already_closed", "closed-rental-2026")
    registries = [key for key, _ in _close_messages(settings)]
    assert registries == [b"payroll", b"rental"]  # the second HTTP close was not published


def _messages_on(settings: Settings, registry: str) -> int:
    async def count() -> int:
        topic = namespaced(f"registry.{registry}.v1", settings.topic_namespace)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers,
            **client_options(settings),
            isolation_level="read_committed",
        )
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, p) for p in range(settings.partitions)]
            return sum((await consumer.end_offsets(partitions)).values())
        finally:
            await consumer.stop()

    return asyncio.run(count())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_registrys_kcat_example_publishes_with_its_own_user(
    pipeline_settings: Settings, tmp_path: Path
) -> None:
    """Each registry's worked example runs as written, as that registry's Kafka user (the
    ACLs let it write only its own topic), and its event is on the topic."""
    settings = pipeline_settings
    for registry in ("population", "rental", "property_sale", "dividend", "deduction"):
        _, password = credentials(settings, f"registry-{registry}")
        env = kcat_environment(tmp_path / "librdkafka", KAFKA_PASSWORD=password)
        code = retarget(example(f"kcat-{registry}"), settings)
        subprocess.run(["bash", "-c", code], check=True, env=env, timeout=60)
        assert _messages_on(settings, registry) == 1, registry
