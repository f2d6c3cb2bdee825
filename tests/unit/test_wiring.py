"""Wiring consistency: every topic in contracts/ is declared in streams/, created by the
launcher, and named in docker-compose.yml; compose sets only real settings."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import yaml

from contracts.topics import ALL_TOPICS, TOPIC_NAMES
from core.settings import PREFIX, Settings
from devtools import broker
from ops import kafka_admin
from streams.app import create_app
from streams.topology import changelog_specs, declare, declared_topics

REPO = Path(__file__).resolve().parents[2]


def settings(tmp_path: Path, **changes: object) -> Settings:
    # topics, not security: no broker credentials in these tests (test_kafka_acls.py)
    env = {"PROACTAX_RUN_DIR": str(tmp_path), "PROACTAX_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}
    return dataclasses.replace(Settings.from_env(env), **changes)


def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_every_contract_topic_is_declared_in_streams(tmp_path: Path) -> None:
    s = settings(tmp_path)
    topology = declare(create_app(s), s)
    assert sorted(topology.contract) == sorted(TOPIC_NAMES)
    for name, topic in topology.contract.items():
        assert topic.get_topic_name() == name
        spec = next(t for t in ALL_TOPICS if t.name == name)
        assert topic.partitions == spec.partitions(s.partitions)


def test_the_launcher_creates_every_declared_topic(tmp_path: Path, monkeypatch) -> None:
    s = settings(tmp_path, topic_namespace="ns")
    created: dict[str, int] = {}

    def record(settings: Settings, specs=ALL_TOPICS, namespace=None, **_: object) -> None:
        ns = settings.topic_namespace if namespace is None else namespace
        created.update(
            {(f"{ns}.{t.name}" if ns else t.name): t.partitions(settings.partitions) for t in specs}
        )

    granted: list[tuple[str, str]] = []
    monkeypatch.setattr(kafka_admin, "create_topics", record)
    monkeypatch.setattr(
        kafka_admin, "grant_acls", lambda s: granted.append((s.topic_namespace, s.app_id))
    )
    kafka_admin.create_worker_topics(s)
    assert created == declared_topics(s)
    assert granted == [("ns", s.app_id)]  # every principal's ACLs for the new namespace
    assert {spec.name for spec in changelog_specs(s)} <= set(created)


def test_compose_creates_every_topic_with_its_partition_count(tmp_path: Path) -> None:
    env = compose()["x-proactax-env"]
    s = settings(
        tmp_path, partitions=int(env["PROACTAX_PARTITIONS"]), app_id=env["PROACTAX_APP_ID"]
    )
    script = "\n".join(compose()["services"]["topics-init"]["command"])
    in_compose = {
        m[0]: int(m[1])
        for m in re.findall(r"^\s*(?:create|compacted) (\S+) (\d+)\s*$", script, re.M)
    }
    assert in_compose == declared_topics(s)


def test_compose_sets_only_real_settings() -> None:
    fields = {PREFIX + f.name.upper() for f in dataclasses.fields(Settings)}
    doc = compose()
    names = set(doc["x-proactax-env"])
    for service in doc["services"].values():
        env = service.get("environment") or {}
        names |= {n for n in env if n.startswith(PREFIX)}
    assert names and names <= fields, names - fields
    Settings.from_env({k: str(v) for k, v in doc["x-proactax-env"].items()})


def kafka_properties() -> dict[str, str]:
    """The server.properties the compose broker writes (its command's first heredoc)."""
    script = "\n".join(compose()["services"]["kafka"]["command"])
    body = re.search(r"cat > /tmp/server.properties <<EOF\n(.*?)\nEOF", script, re.S)
    assert body, "the kafka command writes /tmp/server.properties"
    return broker.parse_properties(body.group(1))


def test_compose_runs_kafka_4_0_in_kraft_mode() -> None:
    kafka = compose()["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:4.0.")
    props = kafka_properties()
    assert props["process.roles"] == "broker,controller"
    assert props["auto.create.topics.enable"] == "false"
    pom = (REPO / "infra/kafka/pom.xml").read_text()
    version = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)
    assert version and kafka["image"].endswith(version.group(1))


def test_compose_kafka_is_secured_like_the_launcher(tmp_path: Path) -> None:
    """SASL_SSL + SCRAM-SHA-512, mutual TLS for the controller, the authorizer denying by
    default, the same super users: the settings the development broker runs with."""
    compose_props = kafka_properties()
    secured = Settings.from_env({"PROACTAX_RUN_DIR": str(tmp_path)})
    launcher = broker.parse_properties(broker.render_server_properties(secured, None, "x"))
    for key in (
        "listener.security.protocol.map",
        "inter.broker.listener.name",
        "sasl.enabled.mechanisms",
        "sasl.mechanism.inter.broker.protocol",
        "listener.name.controller.ssl.client.auth",
        "ssl.keystore.type",
        "ssl.truststore.type",
        "authorizer.class.name",
        "allow.everyone.if.no.acl.found",
        "super.users",
    ):
        assert compose_props[key] == launcher[key], key
    assert "PLAINTEXT" not in compose_props["listeners"] + compose_props["advertised.listeners"]


def test_compose_creates_every_principal_with_a_required_password() -> None:
    from ops.kafka_security import BROKER, PRINCIPALS

    kafka = compose()["services"]["kafka"]
    script = "\n".join(kafka["command"])
    users = dict(re.findall(r'^\s*scram (\S+) "\$\$(\w+)"', script, re.M))
    assert set(users) == {BROKER, *PRINCIPALS}
    for variable in users.values():
        assert kafka["environment"][variable].startswith(f"${{{variable}:?"), variable


def test_every_compose_service_logs_in_to_kafka_as_its_own_principal() -> None:
    """Each service that talks to Kafka has its own user and a required password."""
    expected = {
        "worker": "worker",
        "portal": "portal",
        "notifier": "notifier",
        "bot-webhook": "webhook",
        "bot-worker": "bot",
        "acls-init": "admin",
    }
    services = compose()["services"]
    for name, user in expected.items():
        env = services[name]["environment"]
        assert env["PROACTAX_KAFKA_USERNAME"] == user, name
        assert re.fullmatch(r"\$\{KAFKA_\w+_PASSWORD:\?[^}]+\}", env["PROACTAX_KAFKA_PASSWORD"])
        assert env["PROACTAX_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert "kafka-ca:/kafka-ca:ro" in services[name]["volumes"], name
