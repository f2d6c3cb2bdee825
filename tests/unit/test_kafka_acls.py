"""Least privilege per principal (ops/kafka_security.py), without a broker: the ACL
table grants each process what its code uses and nothing a forger would need. The broker
enforcing it is tests/integration/test_kafka_security.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from contracts import topics
from contracts.topics import REGISTRIES, registry_topic
from core import kafka as kafka_client
from core.kafka import KafkaSecurityError
from core.settings import Settings, SettingsError
from ops.kafka_security import (
    AclBinding,
    Operation,
    PatternType,
    ResourceType,
    acl_bindings,
    write_credentials,
)


def settings(tmp_path: Path, **changes: object) -> Settings:
    base = Settings.from_env({"PROACTAX_RUN_DIR": str(tmp_path)})
    return dataclasses.replace(base, topic_namespace="t1", app_id="proactax-t1", **changes)


def grants(s: Settings, principal: str, op: Operation) -> set[str]:
    return {
        b.resource_name
        for b in acl_bindings(s)
        if b.principal == principal and b.operation is op and b.resource_type is ResourceType.TOPIC
    }


def test_a_registry_writes_only_its_topic(tmp_path: Path) -> None:
    s = settings(tmp_path)
    for r in REGISTRIES:
        writes = grants(s, f"registry-{r}", Operation.WRITE)
        assert f"t1.{registry_topic(r)}" in writes
        others = {f"t1.{registry_topic(o)}" for o in REGISTRIES if o != r}
        assert not writes & others
        assert f"t1.{topics.RETURNS}" not in grants(s, f"registry-{r}", Operation.READ)
        assert f"t1.{topics.DECISIONS}" not in writes
    assert f"t1.{topics.PERIOD_CLOSED}" in grants(s, "registry-payroll", Operation.WRITE)
    assert f"t1.{topics.PERIOD_CLOSED}" not in grants(s, "registry-population", Operation.WRITE)


def test_services_get_what_their_code_uses_and_no_more(tmp_path: Path) -> None:
    s = settings(tmp_path)
    registry_topics = {f"t1.{registry_topic(r)}" for r in REGISTRIES}
    assert not grants(s, "worker", Operation.WRITE) & registry_topics
    assert registry_topics <= grants(s, "worker", Operation.READ)
    assert grants(s, "webhook", Operation.WRITE) == {"t1.telegram.updates.v1"}
    assert not grants(s, "webhook", Operation.READ)
    assert "t1.telegram.updates.v1" not in grants(s, "portal", Operation.WRITE)
    assert registry_topics | {f"t1.{topics.PERIOD_CLOSED}"} <= grants(s, "portal", Operation.WRITE)
    assert grants(s, "notifier", Operation.READ) == {f"t1.{topics.NOTICES}"}
    assert grants(s, "bot", Operation.READ) == {"t1.telegram.updates.v1"}
    for principal in ("portal", "notifier", "bot", "webhook", "mock"):
        assert not any(
            b.principal == principal
            for b in acl_bindings(s)
            if b.operation in {Operation.CREATE, Operation.DESCRIBE_CONFIGS}
        )


def test_prefixed_grants_are_scoped_to_the_app_id(tmp_path: Path) -> None:
    s = settings(tmp_path)
    prefixed = [b for b in acl_bindings(s) if b.pattern is PatternType.PREFIXED]
    assert prefixed
    for b in prefixed:
        assert b.resource_name.startswith(("proactax-t1", "registry-")), b
    assert AclBinding(
        "worker",
        ResourceType.TRANSACTIONAL_ID,
        "proactax-t1",
        PatternType.PREFIXED,
        Operation.WRITE,
    ) in acl_bindings(s)


def test_client_options_log_in_as_the_process_principal(tmp_path: Path) -> None:
    s = settings(tmp_path, kafka_principal="portal")
    write_credentials(s.kafka_credentials_path, {"portal": "p-1", "admin": "a-1"})
    s.kafka_ca_path.parent.mkdir(parents=True, exist_ok=True)
    from ops.kafka_security import TlsFiles, ensure_tls

    ensure_tls(TlsFiles(s.kafka_ca_path.parent), ["127.0.0.1"])
    options = kafka_client.client_options(s)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("portal", "p-1")
    assert kafka_client.client_options(s, "admin")["sasl_plain_username"] == "admin"
    with pytest.raises(KafkaSecurityError, match="'worker' is not in"):
        kafka_client.client_options(s, "worker")
    explicit = dataclasses.replace(s, kafka_username="svc", kafka_password="x")
    assert kafka_client.client_options(explicit)["sasl_plain_username"] == "svc"
    with pytest.raises(KafkaSecurityError, match="PROACTAX_KAFKA_PRINCIPAL"):
        kafka_client.client_options(dataclasses.replace(s, kafka_principal=""))
    plain = dataclasses.replace(s, kafka_security_protocol="PLAINTEXT")
    assert kafka_client.client_options(plain) == {}
    assert kafka_client.faust_credentials(s).username == "portal"


def test_settings_refuse_half_credentials(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="KAFKA_USERNAME"):
        Settings.from_env({"PROACTAX_RUN_DIR": str(tmp_path), "PROACTAX_KAFKA_USERNAME": "x"})
    with pytest.raises(SettingsError, match="SECURITY_PROTOCOL"):
        Settings.from_env(
            {"PROACTAX_RUN_DIR": str(tmp_path), "PROACTAX_KAFKA_SECURITY_PROTOCOL": "SSL"}
        )


def test_each_process_logs_in_as_its_own_principal(tmp_path: Path) -> None:
    from devtools.processes import ServiceProcess
    from ops.kafka_security import PRINCIPALS
    from proactax.cli import build_parser, default_principal

    s = settings(tmp_path, kafka_principal="admin")
    log = tmp_path / "x.log"
    started = {
        ServiceProcess.worker(s, log).kafka_principal,
        ServiceProcess.portal(s, log).kafka_principal,
        ServiceProcess.notifier(s, log).kafka_principal,
        ServiceProcess.bot(s, log, "kafka").kafka_principal,
        ServiceProcess.bot_webhook(s, log).kafka_principal,
    }
    assert started == {"worker", "portal", "notifier", "bot", "webhook"} < set(PRINCIPALS)
    parser = build_parser()
    assert default_principal(parser.parse_args(["bot", "webhook"])) == "webhook"
    assert default_principal(parser.parse_args(["bot", "--mode", "kafka"])) == "bot"
    assert default_principal(parser.parse_args(["worker"])) == "worker"
    assert default_principal(parser.parse_args(["broker", "status"])) == ""  # the launcher: admin
