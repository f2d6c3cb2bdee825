"""The broker launcher against a real Kafka 4.0 JVM.

Uses its own ports and data dir (never the developer's broker, nor the session broker of
``tests/conftest.py`` on 19092/19093); shares the jar cache. Every wait polls a condition
with a deadline.
"""

from __future__ import annotations

import argparse
import dataclasses
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from contracts.topics import ALL_TOPICS, Keying, TopicSpec, namespaced
from core.kafka import client_options
from core.settings import Settings
from devtools import broker
from proactax.commands import broker as broker_cli
from tests.support.waiting import wait_until

# one xdist worker runs the module: its tests share one module-scoped fixture, in order
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("broker-launcher")]

T = TypeVar("T")
PARTITIONS = 3  # differs from the default 4: the launcher must take it from settings


def poll(probe: Callable[[], T], timeout_s: float, what: str) -> T:
    return wait_until(probe, timeout_s=timeout_s, what=what, interval_s=0.05)


def _free_ports(_: tuple[int, int] | None = None) -> tuple[int, int]:
    """Two ports the system says are free now. (It once preferred fixed ones, 19192 and
    up: under xdist, and beside other checkouts' runs, a previous broker still held them.)"""
    ports: list[int] = []
    sockets = []
    for _i in range(2):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
        ports.append(sock.getsockname()[1])
    for sock in sockets:
        sock.close()
    return ports[0], ports[1]


def _settings(base: Path, ports: tuple[int, int], **overrides: object) -> Settings:
    values: dict[str, object] = {
        "run_dir": base / "run",
        "broker_port": ports[0],
        "controller_port": ports[1],
        "broker_data_dir": base / "kafka",
        "broker_heap": "384m",
        "broker_start_timeout_s": 90.0,
        "partitions": PARTITIONS,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def our_java_pids(settings: Settings) -> list[int]:
    """Live ``kafka.Kafka`` JVMs on this settings' properties file, found via /proc."""
    paths = broker.BrokerPaths.of(settings)
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            pid = int(proc.name)
            if broker.is_our_broker(pid, paths) and broker.pid_alive(pid):
                found.append(pid)
    return found


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return _settings(tmp_path_factory.mktemp("broker"), _free_ports((19192, 19193)))


@pytest.fixture(scope="module")
def started(settings: Settings) -> Iterator[broker.BrokerHandle]:
    handle = broker.start(settings)
    yield handle
    broker.stop(settings)


def expected_counts(namespace: str = "") -> dict[str, int]:
    return {namespaced(t.name, namespace): t.partitions(PARTITIONS) for t in ALL_TOPICS}


def test_start_answers_within_the_deadline(settings: Settings, started: broker.BrokerHandle):
    assert started.launched
    assert started.timings["jvm"] < settings.broker_start_timeout_s
    assert started.bootstrap_servers == f"127.0.0.1:{settings.broker_port}"
    assert broker.broker_answers(settings)
    state = broker.status(settings)
    assert state.running and state.answering and state.pid == started.pid
    assert state.uptime_s is not None and state.uptime_s > 0
    assert our_java_pids(settings) == [started.pid]
    print(f"\nbroker {started.describe_timing()}")


def test_every_declared_topic_exists_with_its_partition_count(
    settings: Settings, started: broker.BrokerHandle
):
    assert started.topics is not None
    assert set(started.topics.created) == set(expected_counts())
    listed = broker.list_topics(settings)
    assert listed == expected_counts()
    # registry-keyed topics are single-partition, the others follow settings
    assert listed["registry.period_closed.v1"] == 1
    assert listed["returns.v1"] == PARTITIONS
    internal = broker.list_topics(settings, include_internal=True)
    assert "__consumer_offsets" in internal or len(internal) == len(listed)


def test_second_start_is_a_no_op(settings: Settings, started: broker.BrokerHandle):
    again = broker.start(settings)
    assert not again.launched
    assert again.pid == started.pid
    assert again.describe_timing() == "already running"
    assert again.topics is not None and not again.topics.created
    assert our_java_pids(settings) == [started.pid]


def test_create_topics_per_namespace_is_idempotent(
    settings: Settings, started: broker.BrokerHandle
):
    first = broker.create_topics(settings, ALL_TOPICS, namespace="t1")
    assert set(first.created) == set(expected_counts("t1"))
    assert first.partitions == expected_counts("t1")
    second = broker.create_topics(settings, ALL_TOPICS, namespace="t1")
    assert not second.created and set(second.existing) == set(expected_counts("t1"))
    listed = broker.list_topics(settings)
    assert {k: v for k, v in listed.items() if k.startswith("t1.")} == expected_counts("t1")


async def test_create_topics_from_inside_an_event_loop(
    settings: Settings, started: broker.BrokerHandle
):
    specs = [TopicSpec("loop.check.v1", Keying.PINFL, "test")]
    report = broker.create_topics(settings, specs, namespace="t2")  # sync, inside a loop
    assert report.created == ("t2.loop.check.v1",)
    again = await broker.acreate_topics(settings, specs, namespace="t2")
    assert again.existing == ("t2.loop.check.v1",)
    assert (await broker.alist_topics(settings))["t2.loop.check.v1"] == PARTITIONS


async def test_create_topics_with_configs(settings: Settings, started: broker.BrokerHandle):
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    specs = [TopicSpec("changelog.check", Keying.PINFL, "test")]
    broker.create_topics(settings, specs, namespace="t3", configs={"cleanup.policy": "compact"})
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, **client_options(settings, "admin")
    )
    await admin.start()
    try:
        wanted = {"cleanup.policy": None}  # a dict: its keys filter the answer
        resource = ConfigResource(ConfigResourceType.TOPIC, "t3.changelog.check", wanted)
        [response] = await admin.describe_configs([resource])
    finally:
        await admin.close()
    entries = response.to_object()["resources"][0]["config_entries"]
    assert {e["config_names"]: e["config_value"] for e in entries} == {"cleanup.policy": "compact"}


def test_partition_count_mismatch_is_a_clear_error(
    settings: Settings, started: broker.BrokerHandle
):
    wider = dataclasses.replace(settings, partitions=PARTITIONS + 2)
    with pytest.raises(broker.TopicMismatchError) as caught:
        broker.create_topics(wider, ALL_TOPICS, namespace="")
    message = str(caught.value)
    assert f"returns.v1 has {PARTITIONS} partitions, the code declares {PARTITIONS + 2}" in message
    assert broker.list_topics(settings)["returns.v1"] == PARTITIONS  # nothing changed


def test_cli_status_and_topics(
    settings: Settings,
    started: broker.BrokerHandle,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    monkeypatch.setattr("core.settings.get_settings", lambda: settings)
    assert broker_cli.cmd_status(argparse.Namespace()) == 0
    out = capsys.readouterr().out
    assert f"pid {started.pid}" in out and "answering" in out and "uptime" in out
    assert broker_cli.cmd_topics(argparse.Namespace(internal=False)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.split() == ["returns.v1", str(PARTITIONS)] for line in lines)
    assert broker_cli.cmd_start(argparse.Namespace()) == 0
    assert "already running" in capsys.readouterr().out


def test_port_in_use_is_a_clear_error(tmp_path: Path, started: broker.BrokerHandle):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        port = squatter.getsockname()[1]
        other = _settings(tmp_path, (port, _free_ports((19194, 19195))[1]))
        with pytest.raises(broker.PortInUseError, match=f"broker port 127.0.0.1:{port}"):
            broker.start(other)
    assert not broker.BrokerPaths.of(other).pid_file.exists()
    assert our_java_pids(other) == []


def test_a_jvm_that_dies_during_start_up_shows_its_log(tmp_path: Path):
    # -Xms1k makes the JVM exit at once: the launcher must notice and show why
    doomed = _settings(tmp_path, _free_ports((19196, 19197)), broker_heap="1k")
    with pytest.raises(broker.BrokerError) as caught:
        broker.start(doomed)
    message = str(caught.value)
    assert "exited during start-up" in message
    assert "heap" in message.lower()  # the JVM's own complaint, from kafka.out
    assert not broker.BrokerPaths.of(doomed).pid_file.exists()


def test_stop_leaves_no_java_process_then_warm_start(
    settings: Settings, started: broker.BrokerHandle, monkeypatch: pytest.MonkeyPatch
):
    pid = broker.status(settings).pid
    assert pid is not None
    result = broker.stop(settings)
    assert result.was_running and result.pid == pid and not result.forced
    assert not broker.pid_alive(pid)
    assert our_java_pids(settings) == []
    assert not broker.BrokerPaths.of(settings).pid_file.exists()
    assert not broker.status(settings).running
    assert not broker.port_answers(settings.broker_host, settings.broker_port)

    monkeypatch.setattr("core.settings.get_settings", lambda: settings)
    assert broker_cli.cmd_status(argparse.Namespace()) == broker_cli.EXIT_NOT_RUNNING
    assert broker_cli.cmd_stop(argparse.Namespace(timeout=5.0)) == 0
    assert not broker.stop(settings).was_running

    # warm start: jars cached, storage formatted, topics kept
    warm = broker.start(settings)
    assert warm.launched and not warm.cold
    assert "fetch" not in warm.timings and "format" not in warm.timings
    assert warm.topics is not None and not warm.topics.created
    assert our_java_pids(settings) == [warm.pid]
    print(f"\nbroker {warm.describe_timing()}")
    poll(lambda: broker.status(settings).answering, 10, "restarted broker answers")
