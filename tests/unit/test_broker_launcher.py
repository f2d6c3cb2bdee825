"""The broker launcher's logic without a JVM: rendering, pid files, ports, jar cache, stop."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from core.settings import Settings
from devtools import broker
from devtools.broker import install as broker_install
from devtools.broker import launcher
from ops import kafka_security
from tests.support.waiting import wait_until

T = TypeVar("T")


def poll(probe: Callable[[], T], timeout_s: float = 10.0, what: str = "condition") -> T:
    return wait_until(probe, timeout_s=timeout_s, what=what, interval_s=0.02)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        run_dir=tmp_path / "run",
        broker_port=29192,
        controller_port=29193,
        broker_data_dir=tmp_path / "kafka",
        broker_cache_dir=tmp_path / "cache",
        partitions=6,
    )


@pytest.fixture
def paths(settings: Settings) -> broker.BrokerPaths:
    return broker.BrokerPaths.of(settings)


# --------------------------------------------------------------------------- rendering


def test_rendered_properties_single_node_kraft(settings: Settings, paths: broker.BrokerPaths):
    text = broker.render_server_properties(settings, paths)
    assert "${" not in text
    props = broker.parse_properties(text)

    assert props["node.id"] == "1"
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "SASL_SSL://127.0.0.1:29192,CONTROLLER://127.0.0.1:29193"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:29193"
    # `--standalone` formatting forbids a static voter list
    assert "controller.quorum.voters" not in props
    assert props["log.dirs"] == str(settings.broker_data_path / "kraft")
    assert props["num.partitions"] == "6"
    assert props["auto.create.topics.enable"] == "false"
    assert props["group.initial.rebalance.delay.ms"] == "0"


def test_every_replication_factor_and_min_isr_is_one(settings: Settings):
    props = broker.parse_properties(broker.render_server_properties(settings))
    for key in (
        "default.replication.factor",
        "min.insync.replicas",
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "share.coordinator.state.topic.replication.factor",
        "share.coordinator.state.topic.min.isr",
    ):
        assert props[key] == "1", key
    others = [k for k in props if k.endswith((".replication.factor", ".min.isr"))]
    assert all(props[k] == "1" for k in others), {k: props[k] for k in others}


def test_rendering_follows_settings(tmp_path: Path):
    other = Settings(
        run_dir=tmp_path,
        broker_host="127.0.0.2",
        broker_port=40001,
        controller_port=40002,
        partitions=2,
    )
    props = broker.parse_properties(broker.render_server_properties(other))
    assert props["listeners"] == "SASL_SSL://127.0.0.2:40001,CONTROLLER://127.0.0.2:40002"
    assert props["log.dirs"] == str(tmp_path / "kafka" / "kraft")
    assert props["num.partitions"] == "2"


def test_the_broker_is_secured_by_default(settings: Settings, paths: broker.BrokerPaths):
    """Issue 14: SASL_SSL with SCRAM-SHA-512 for clients, mutual TLS for the controller,
    the KRaft authorizer denying whatever no ACL allows, super users only for itself."""
    props = broker.parse_properties(broker.render_server_properties(settings, paths, "pw-123"))
    assert props["listener.security.protocol.map"] == "CONTROLLER:SSL,SASL_SSL:SASL_SSL"
    assert props["inter.broker.listener.name"] == "SASL_SSL"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    assert (
        'username="broker" password="pw-123";'
        in (props["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"])
    )
    assert props["listener.name.controller.ssl.client.auth"] == "required"
    assert props["ssl.keystore.type"] == props["ssl.truststore.type"] == "PEM"
    assert props["ssl.truststore.location"] == str(paths.data / "tls" / "ca.pem")
    assert props["authorizer.class.name"] == (
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    )
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:broker;User:admin;User:CN=proactax-broker"
    assert "PLAINTEXT" not in props["listeners"] + props["listener.security.protocol.map"]


def test_plaintext_only_when_asked(settings: Settings, paths: broker.BrokerPaths):
    plain = dataclasses.replace(settings, kafka_security_protocol="PLAINTEXT")
    props = broker.parse_properties(broker.render_server_properties(plain, paths))
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:29192,CONTROLLER://127.0.0.1:29193"
    assert "authorizer.class.name" not in props and "sasl.enabled.mechanisms" not in props


def test_security_files_are_private_and_made_once(settings: Settings, paths: broker.BrokerPaths):
    credentials = broker.ensure_security_files(settings, paths)
    assert set(credentials) == {"broker", *kafka_security.PRINCIPALS}
    assert len(set(credentials.values())) == len(credentials)  # one password each
    assert all(len(p) >= 32 for p in credentials.values())
    for private in (paths.credentials, paths.tls.ca_key, paths.tls.broker):
        assert private.stat().st_mode & 0o777 == 0o600, private
    assert broker.ensure_security_files(settings, paths) == credentials  # not regenerated
    ca = paths.tls.ca.read_bytes()
    assert b"BEGIN CERTIFICATE" in ca and b"PRIVATE KEY" not in ca
    broker_pem = paths.tls.broker.read_text()
    assert broker_pem.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8, as Kafka wants


def test_a_storage_formatted_without_credentials_is_refused(
    settings: Settings, paths: broker.BrokerPaths
):
    paths.meta_properties.parent.mkdir(parents=True)
    paths.meta_properties.write_text("version=1\n")
    with pytest.raises(broker.BrokerError, match=r"no credentials\.json"):
        broker.ensure_security_files(settings, paths)


def test_a_plaintext_storage_is_not_reused_secured(settings: Settings, paths: broker.BrokerPaths):
    plain = dataclasses.replace(settings, kafka_security_protocol="PLAINTEXT")
    broker.check_format_matches(paths, plain)
    with pytest.raises(broker.BrokerError, match="formatted for a PLAINTEXT broker"):
        broker.check_format_matches(paths, settings)


def test_scram_users_are_added_at_format_time():
    args = kafka_security.scram_arguments({"admin": "a1", "worker": "w2"})
    assert args == [
        "--add-scram",
        "SCRAM-SHA-512=[name=admin,password=a1]",
        "--add-scram",
        "SCRAM-SHA-512=[name=worker,password=w2]",
    ]


def test_java_command(settings: Settings, paths: broker.BrokerPaths):
    command = broker.java_command(settings, paths, java="/usr/bin/java")
    assert command[0] == "/usr/bin/java"
    assert "-Xms512m" in command and "-Xmx512m" in command
    assert f"-Dlog4j2.configurationFile={broker_install.LOG4J2_PROPERTIES}" in command
    assert f"-Dkafka.logs.dir={paths.logs}" in command
    assert command[command.index("-cp") + 1] == f"{paths.libs}/*"
    assert command[-2:] == ["kafka.Kafka", str(paths.properties)]


def test_log4j2_config_writes_rolling_file_into_logs_dir():
    text = broker_install.LOG4J2_PROPERTIES.read_text()
    assert "RollingFile" in text
    assert "${sys:kafka.logs.dir" in text
    assert "logger.request.level = warn" in text


# --------------------------------------------------------------------------- cluster id


def test_cluster_id_is_a_kafka_uuid():
    for _ in range(200):
        value = broker.new_cluster_id()
        assert len(value) == 22
        assert not value.startswith("-")
        assert len(base64.urlsafe_b64decode(value + "==")) == 16


def test_cluster_id_is_generated_once(paths: broker.BrokerPaths):
    first = broker.cluster_id(paths)
    assert broker.cluster_id(paths) == first
    assert paths.cluster_id_file.read_text().strip() == first


def test_format_record_rejects_a_changed_controller_port(
    settings: Settings, paths: broker.BrokerPaths
):
    broker.check_format_matches(paths, settings)
    broker.check_format_matches(paths, settings)  # same settings: fine
    moved = dataclasses.replace(settings, controller_port=29999)
    with pytest.raises(broker.BrokerError, match=r"formatted for controller 127\.0\.0\.1:29193"):
        broker.check_format_matches(paths, moved)


# --------------------------------------------------------------------------- pid files


def test_pid_file_round_trip(paths: broker.BrokerPaths):
    assert broker.read_pid(paths.pid_file) is None
    broker.write_pid(paths.pid_file, 4242)
    assert broker.read_pid(paths.pid_file) == 4242
    paths.pid_file.write_text("garbage")
    assert broker.read_pid(paths.pid_file) is None


def test_stale_pid_file_of_a_dead_process_is_removed(paths: broker.BrokerPaths):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    broker.write_pid(paths.pid_file, child.pid)
    assert broker.running_pid(paths) is None
    assert not paths.pid_file.exists()


def test_pid_reused_by_another_program_is_not_our_broker(paths: broker.BrokerPaths):
    broker.write_pid(paths.pid_file, os.getpid())  # alive, but pytest is no kafka.Kafka
    assert broker.pid_alive(os.getpid())
    assert not broker.is_our_broker(os.getpid(), paths)
    assert broker.running_pid(paths) is None
    assert not paths.pid_file.exists()


def test_zombie_counts_as_dead():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        poll(
            lambda: (
                Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
            ),
            what="child became a zombie",
        )
        assert not broker.pid_alive(child.pid)
    finally:
        child.wait()


FAKE_BROKER = """
import signal, sys, time
from pathlib import Path
if sys.argv[1] == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
Path(sys.argv[2]).write_text("ready")
while True:
    time.sleep(0.05)
"""


@pytest.fixture
def fake_broker(paths: broker.BrokerPaths, tmp_path: Path) -> Iterator[Callable[[bool], int]]:
    """A process whose command line looks like our broker's (``kafka.Kafka <props>``)."""
    started: list[subprocess.Popen[bytes]] = []

    def launch(ignore_term: bool) -> int:
        ready = tmp_path / f"ready-{len(started)}"
        mode = "ignore-term" if ignore_term else "normal"
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                FAKE_BROKER,
                mode,
                str(ready),
                "kafka.Kafka",
                str(paths.properties),
            ],
            start_new_session=True,
        )
        started.append(child)
        launcher._children[child.pid] = child
        poll(ready.exists, what="fake broker ready")
        broker.write_pid(paths.pid_file, child.pid)
        return child.pid

    yield launch
    for child in started:
        if child.poll() is None:
            child.kill()
        child.wait()
        launcher._children.pop(child.pid, None)


def test_running_broker_is_detected(settings, paths, fake_broker):
    pid = fake_broker(False)
    assert broker.is_our_broker(pid, paths)
    assert broker.running_pid(paths) == pid
    state = broker.status(settings)
    assert state.running and state.pid == pid
    assert state.uptime_s is not None and state.uptime_s >= 0
    assert not state.answering  # nothing listens on the broker port


def test_stop_terminates_and_removes_pid_file(settings, paths, fake_broker):
    pid = fake_broker(False)
    result = broker.stop(settings, timeout_s=10)
    assert result.was_running and result.pid == pid and not result.forced
    assert not broker.pid_alive(pid)
    assert not paths.pid_file.exists()


def test_stop_kills_a_broker_that_ignores_sigterm(settings, paths, fake_broker):
    pid = fake_broker(True)
    result = broker.stop(settings, timeout_s=0.5)
    assert result.was_running and result.forced
    assert not broker.pid_alive(pid)
    assert not paths.pid_file.exists()


def test_stop_when_not_running_says_so(settings):
    result = broker.stop(settings)
    assert not result.was_running and result.pid is None
    assert not broker.status(settings).running


# --------------------------------------------------------------------------- ports


@pytest.fixture
def listener() -> Iterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    yield sock.getsockname()[1]
    sock.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_port_probes(listener: int):
    assert not broker.port_free("127.0.0.1", listener)
    assert broker.port_answers("127.0.0.1", listener)
    port = free_port()
    assert broker.port_free("127.0.0.1", port)
    assert not broker.port_answers("127.0.0.1", port)


def test_port_in_use_is_a_clear_error(tmp_path: Path, listener: int):
    taken = Settings(run_dir=tmp_path, broker_port=listener, controller_port=free_port())
    with pytest.raises(broker.PortInUseError) as caught:
        broker.check_ports_free(taken)
    message = str(caught.value)
    assert f"broker port 127.0.0.1:{listener} already in use" in message
    assert "PROACTAX_BROKER_PORT" in message


def test_start_refuses_a_taken_port_before_launching_anything(tmp_path: Path, listener: int):
    taken = Settings(
        run_dir=tmp_path,
        broker_port=free_port(),
        controller_port=listener,
        broker_cache_dir=tmp_path / "cache",
    )
    with pytest.raises(broker.PortInUseError, match=f"controller port 127.0.0.1:{listener}"):
        broker.start(taken)
    paths = broker.BrokerPaths.of(taken)
    assert not paths.pid_file.exists()
    assert not paths.libs.exists()  # nothing fetched either


def test_same_port_twice_is_an_error(tmp_path: Path):
    with pytest.raises(broker.BrokerError, match="both"):
        broker.check_ports_free(
            Settings(run_dir=tmp_path, broker_port=29300, controller_port=29300)
        )


# --------------------------------------------------------------------------- jar cache

FAKE_MVN = """#!/bin/sh
echo called >> "{calls}"
for arg in "$@"; do
  case "$arg" in -DoutputDirectory=*) out="${{arg#-DoutputDirectory=}}";; esac
done
{body}
"""


def _fake_mvn(tmp_path: Path, body: str) -> tuple[str, Path]:
    calls = tmp_path / "mvn-calls"
    script = tmp_path / "mvn"
    script.write_text(FAKE_MVN.format(calls=calls, body=body))
    script.chmod(0o755)
    return str(script), calls


def test_jars_are_fetched_once_into_place(paths: broker.BrokerPaths, tmp_path: Path):
    mvn, calls = _fake_mvn(
        tmp_path, 'mkdir -p "$out" && touch "$out/kafka_2.13-4.0.2.jar" "$out/kafka-clients.jar"'
    )
    assert not broker.jars_ready(paths)
    assert broker.fetch_jars(paths, mvn=mvn) is True
    assert broker.jars_ready(paths)
    assert (paths.libs / "kafka_2.13-4.0.2.jar").exists()
    marker = json.loads((paths.libs / broker_install.COMPLETE_MARKER).read_text())
    assert "kafka_2.13-4.0.2.jar" in marker["jars"]
    assert broker.fetch_jars(paths, mvn=mvn) is False
    assert calls.read_text().count("called") == 1
    assert not list(paths.cache.glob("libs.tmp-*"))


def test_failed_fetch_leaves_no_libs(paths: broker.BrokerPaths, tmp_path: Path):
    mvn, _ = _fake_mvn(tmp_path, 'mkdir -p "$out"; echo "Could not resolve"; exit 1')
    with pytest.raises(broker.BrokerError, match="Could not resolve"):
        broker.fetch_jars(paths, mvn=mvn)
    assert not paths.libs.exists()
    assert not list(paths.cache.glob("libs.tmp-*"))


def test_libs_without_marker_are_fetched_again(paths: broker.BrokerPaths, tmp_path: Path):
    paths.libs.mkdir(parents=True)
    (paths.libs / "half.jar").touch()  # an interrupted fetch of an older launcher
    mvn, _ = _fake_mvn(tmp_path, 'mkdir -p "$out" && touch "$out/kafka_2.13-4.0.2.jar"')
    assert broker.fetch_jars(paths, mvn=mvn) is True
    assert not (paths.libs / "half.jar").exists()


def test_marker_of_another_pom_is_stale(paths: broker.BrokerPaths):
    paths.libs.mkdir(parents=True)
    (paths.libs / broker_install.COMPLETE_MARKER).write_text(json.dumps({"pom_sha256": "0" * 64}))
    assert not broker.jars_ready(paths)


# --------------------------------------------------------------------------- misc


def test_tail_returns_last_lines(tmp_path: Path):
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert broker.tail(log, 3) == "line 97\nline 98\nline 99\n"
    assert broker.tail(tmp_path / "missing.log") == ""


async def _answer() -> int:
    return 42


def test_run_bridge_from_sync_code():
    assert broker.run_sync(_answer()) == 42


async def test_run_bridge_inside_a_running_loop():
    assert broker.run_sync(_answer()) == 42


def test_handle_describes_cold_and_warm_starts(tmp_path: Path):
    handle = broker.BrokerHandle(
        pid=1,
        bootstrap_servers="127.0.0.1:9092",
        data_dir=tmp_path,
        launched=True,
        cold=True,
        timings={"fetch": 8.0, "format": 1.0, "jvm": 3.0, "topics": 0.2, "total": 12.3},
        topics=None,
    )
    assert handle.describe_timing() == (
        "cold start in 12.3 s (fetch 8.0 s, format 1.0 s, jvm 3.0 s, topics 0.2 s)"
    )


# --------------------------------------------------------------------------- start, faked JVM


@pytest.fixture
def fake_java(
    settings: Settings, paths: broker.BrokerPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], Settings]:
    """Jars "cached", storage "formatted", and ``$JAVA_HOME/bin/java`` replaced by a script."""
    paths.libs.mkdir(parents=True)
    (paths.libs / broker_install.COMPLETE_MARKER).write_text(
        json.dumps({"pom_sha256": broker.pom_digest()})
    )
    paths.log_dirs.mkdir(parents=True)
    paths.meta_properties.write_text("node.id=1\n")
    kafka_security.write_credentials(paths.credentials, kafka_security.new_credentials())
    java_home = tmp_path / "jdk"
    (java_home / "bin").mkdir(parents=True)
    monkeypatch.setenv("JAVA_HOME", str(java_home))

    def install(body: str) -> Settings:
        java = java_home / "bin" / "java"
        java.write_text(f"#!/bin/sh\n{body}\n")
        java.chmod(0o755)
        return dataclasses.replace(settings, broker_start_timeout_s=1.0)

    return install


def test_jvm_dying_during_start_up_shows_its_output(fake_java, paths: broker.BrokerPaths):
    fast = fake_java('echo "Error: could not reserve enough space for object heap"; exit 1')
    with pytest.raises(broker.BrokerError) as caught:
        broker.start(fast)
    message = str(caught.value)
    assert "exited during start-up" in message
    assert "could not reserve enough space" in message
    assert not paths.pid_file.exists()


def test_jvm_not_answering_by_the_deadline_is_stopped(fake_java, paths: broker.BrokerPaths):
    fast = fake_java("while :; do sleep 0.1; done")
    # a real broker this test process restarted earlier (tests/reliability) is not ours
    before = set(launcher._children)
    with pytest.raises(broker.BrokerError, match=r"did not answer .* within 1 s") as caught:
        broker.start(fast)
    assert "stopped it" in str(caught.value)
    assert not paths.pid_file.exists()
    assert not [p for p in launcher._children if p not in before and broker.pid_alive(p)]
