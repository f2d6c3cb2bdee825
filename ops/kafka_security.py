"""Who may do what on the broker (issue 14): principals, their ACLs, credentials and TLS.

The launcher (devtools/broker/) starts Kafka with SASL_SSL (SCRAM-SHA-512) for clients,
mutual TLS on the controller listener and the KRaft ``StandardAuthorizer`` with
``allow.everyone.if.no.acl.found=false``. Super users: the broker itself (SCRAM user
``broker`` between brokers, certificate ``CN=proactax-broker`` on the controller listener)
and ``admin`` (the launcher: topics and ACLs). Every other principal gets the ACLs of
:func:`acl_bindings`, derived from the topics each process reads and writes.

Files, in the broker's data dir, written by the launcher and readable only by the owner:
``credentials.json`` (principal -> password, generated at format time) and ``tls/``
(``ca.pem`` for clients, ``ca.key``, ``broker.pem`` = the broker's key and certificate).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import ipaddress
import json
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from contracts import topics
from contracts.topics import REGISTRIES, namespaced, registry_topic
from core.kafka import MECHANISM
from core.settings import Settings

ADMIN = "admin"
BROKER = "broker"  # the broker's own SCRAM user (inter-broker listener)
BROKER_CN = "proactax-broker"  # the broker's certificate (controller listener, mutual TLS)
CLUSTER = "kafka-cluster"


def registry_principal(registry: str) -> str:
    return f"registry-{registry}"


# Every SCRAM user the launcher creates. Processes name theirs with PROACTAX_KAFKA_PRINCIPAL
# (devtools/processes.py sets it for the children it starts; proactax/cli.py defaults it
# per command).
SERVICE_PRINCIPALS: tuple[str, ...] = ("worker", "portal", "notifier", "bot", "webhook", "mock")
PRINCIPALS: tuple[str, ...] = (
    ADMIN,
    *SERVICE_PRINCIPALS,
    *(registry_principal(r) for r in REGISTRIES),
)
SUPER_USERS: tuple[str, ...] = (f"User:{BROKER}", f"User:{ADMIN}", f"User:CN={BROKER_CN}")
# Registries that may publish registry.period_closed.v1 (CONTRACT.md: the completeness set;
# population closes nothing).
CLOSING_REGISTRIES: tuple[str, ...] = (
    "payroll",
    "rental",
    "property_sale",
    "dividend",
    "deduction",
)


# --------------------------------------------------------------------------- ACLs


class ResourceType(enum.IntEnum):  # Kafka's org.apache.kafka.common.resource.ResourceType
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5


class PatternType(enum.IntEnum):
    LITERAL = 3
    PREFIXED = 4


class Operation(enum.IntEnum):  # org.apache.kafka.common.acl.AclOperation
    READ = 3
    WRITE = 4
    CREATE = 5
    DESCRIBE = 8
    DESCRIBE_CONFIGS = 10
    IDEMPOTENT_WRITE = 12


ALLOW = 3  # AclPermissionType.ALLOW


@dataclasses.dataclass(frozen=True, slots=True, order=True)
class AclBinding:
    principal: str  # the SCRAM user name, without "User:"
    resource_type: ResourceType
    resource_name: str
    pattern: PatternType
    operation: Operation


def _app_topics(settings: Settings) -> tuple[str, str]:
    from contracts.topics import TELEGRAM_UPDATES, YEAR_RELEASED

    ns = settings.topic_namespace
    return namespaced(YEAR_RELEASED, ns), namespaced(TELEGRAM_UPDATES, ns)


def acl_bindings(settings: Settings) -> list[AclBinding]:
    """The ACLs of every principal but the super users, for ``settings.topic_namespace``
    (topics, LITERAL) and ``settings.app_id`` (consumer groups, changelogs, transactional
    ids: PREFIXED). Tests grant them per pipeline namespace; production has none."""
    ns = settings.topic_namespace
    app = settings.app_id
    year_released, telegram_updates = _app_topics(settings)

    def t(name: str) -> str:
        return namespaced(name, ns)

    registry_topics = [t(registry_topic(r)) for r in REGISTRIES]
    out: list[AclBinding] = []

    def topic(principal: str, op: Operation, *names: str) -> None:
        out.extend(
            AclBinding(principal, ResourceType.TOPIC, n, PatternType.LITERAL, op) for n in names
        )

    def prefixed(principal: str, kind: ResourceType, prefix: str, *ops: Operation) -> None:
        out.extend(AclBinding(principal, kind, prefix, PatternType.PREFIXED, op) for op in ops)

    # Registries: write their own topic (and close periods if they are in the completeness
    # set); read the disputes addressed to registries and the dead letters; answer disputes.
    for r in REGISTRIES:
        p = registry_principal(r)
        topic(p, Operation.WRITE, t(registry_topic(r)), t(topics.DISPUTE_RESPONSES))
        if r in CLOSING_REGISTRIES:
            topic(p, Operation.WRITE, t(topics.PERIOD_CLOSED))
        topic(p, Operation.READ, t(topics.DISPUTES), t(topics.DEADLETTER))
        prefixed(p, ResourceType.GROUP, p, Operation.READ)

    # The stream worker (faust app + lifecycle agents): registry ► ledger ► returns;
    # decisions, payments, statuses, dispute answers ► notices, payments, disputes.
    worker_reads = (
        *registry_topics,
        t(topics.PERIOD_CLOSED),
        t(topics.DEADLETTER),  # feed health counts rejected events
        year_released,
        t(topics.RETURNS),
        t(topics.DECISIONS),
        t(topics.PAYMENTS),
        t(topics.NOTIFICATIONS),
        t(topics.DISPUTE_RESPONSES),
    )
    worker_writes = (
        t(topics.RETURNS),
        t(topics.DEADLETTER),
        year_released,
        t(topics.NOTICES),
        t(topics.PAYMENTS),
        t(topics.DISPUTES),
    )
    topic("worker", Operation.READ, *worker_reads)
    topic("worker", Operation.WRITE, *worker_writes)
    # faust tables' changelogs ("<app_id>-<table>-changelog"), declared by faust itself
    changelogs = f"{app}-"
    prefixed(
        "worker",
        ResourceType.TOPIC,
        changelogs,
        Operation.READ,
        Operation.WRITE,
        Operation.CREATE,
        Operation.DESCRIBE_CONFIGS,
    )
    prefixed("worker", ResourceType.GROUP, app, Operation.READ)  # app_id, -lifecycle
    prefixed("worker", ResourceType.TRANSACTIONAL_ID, app, Operation.WRITE, Operation.DESCRIBE)
    out.append(
        AclBinding(
            "worker", ResourceType.CLUSTER, CLUSTER, PatternType.LITERAL, Operation.IDEMPOTENT_WRITE
        )
    )

    # The portal: the HTTP ingest API publishes registry events and year closes (issue 17);
    # taxpayers' decisions.
    topic("portal", Operation.WRITE, *registry_topics, t(topics.PERIOD_CLOSED), t(topics.DECISIONS))
    # The notifier: notices in, delivery statuses out; decisions from notice buttons.
    topic("notifier", Operation.READ, t(topics.NOTICES))
    topic("notifier", Operation.WRITE, t(topics.NOTIFICATIONS), t(topics.DECISIONS))
    prefixed("notifier", ResourceType.GROUP, f"{app}-notifier", Operation.READ)
    # The bot (Kafka mode): the webhook's updates in; decisions out.
    topic("bot", Operation.READ, telegram_updates)
    topic("bot", Operation.WRITE, t(topics.DECISIONS))
    prefixed("bot", ResourceType.GROUP, f"{app}-bot", Operation.READ)
    # The webhook receiver: Telegram's updates in, nothing read.
    topic("webhook", Operation.WRITE, telegram_updates)
    # The mock registries and the demo's simulated season (registries, payment gateway,
    # delivery): registry events, closures, dispute answers, delivery statuses.
    topic(
        "mock",
        Operation.WRITE,
        *registry_topics,
        t(topics.PERIOD_CLOSED),
        t(topics.DISPUTE_RESPONSES),
        t(topics.NOTIFICATIONS),
    )
    topic("mock", Operation.READ, t(topics.NOTICES), t(topics.DISPUTES))
    return sorted(set(out))


# --------------------------------------------------------------------------- credentials


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` atomically to a file only its owner can read (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def write_private_text(path: Path, text: str) -> None:
    _write_private(path, text.encode("utf-8"))


def new_credentials(principals: Iterable[str] = (BROKER, *PRINCIPALS)) -> dict[str, str]:
    """A fresh random password (192 bits, URL-safe) per principal."""
    return {name: secrets.token_urlsafe(24) for name in principals}


def write_credentials(path: Path, credentials: dict[str, str]) -> None:
    write_private_text(path, json.dumps(credentials, indent=1, sort_keys=True) + "\n")


def scram_arguments(credentials: dict[str, str]) -> list[str]:
    """``StorageTool format`` arguments that create every SCRAM user with the metadata."""
    args: list[str] = []
    for name, password in sorted(credentials.items()):
        args += ["--add-scram", f"{MECHANISM}=[name={name},password={password}]"]
    return args


# --------------------------------------------------------------------------- TLS


@dataclasses.dataclass(frozen=True, slots=True)
class TlsFiles:
    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def broker(self) -> Path:  # PKCS#8 key, then the certificate (Kafka PEM keystore)
        return self.directory / "broker.pem"

    def ready(self) -> bool:
        return self.ca.exists() and self.ca_key.exists() and self.broker.exists()


def ensure_tls(files: TlsFiles, hosts: Iterable[str]) -> bool:
    """A local CA and a broker certificate (for ``hosts``) signed by it, once. True if made.

    RSA 2048, valid two years; the broker certificate serves both the client listener and,
    as a client certificate, the controller listener (mutual TLS).
    """
    if files.ready():
        return False
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    validity = dt.timedelta(days=730)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "proactax development CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(["localhost", "127.0.0.1", *hosts]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, BROKER_CN)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pkcs8 = serialization.PrivateFormat.PKCS8
    none = serialization.NoEncryption()
    pem = serialization.Encoding.PEM
    _write_private(files.ca_key, ca_key.private_bytes(pem, pkcs8, none))
    _write_private(
        files.broker,
        key.private_bytes(pem, pkcs8, none) + cert.public_bytes(pem) + ca_cert.public_bytes(pem),
    )
    files.ca.write_bytes(ca_cert.public_bytes(pem))  # public: what clients trust
    return True


def server_security_properties(files: TlsFiles, broker_password: str) -> str:
    """The security part of server.properties (the launcher writes the file 0600)."""
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{BROKER}" password="{broker_password}";'
    )
    lines = [
        "############################# Security (issue 14) #############################",
        "# Clients: SASL_SSL with SCRAM-SHA-512; controller: mutual TLS (the broker's own",
        "# certificate). Nothing is allowed without an ACL (ops/kafka_security.py).",
        f"sasl.enabled.mechanisms={MECHANISM}",
        f"sasl.mechanism.inter.broker.protocol={MECHANISM}",
        f"listener.name.sasl_ssl.{MECHANISM.lower()}.sasl.jaas.config={jaas}",
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={files.broker}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={files.ca}",
        "listener.name.controller.ssl.client.auth=required",
        "ssl.enabled.protocols=TLSv1.3,TLSv1.2",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found=false",
        f"super.users={';'.join(SUPER_USERS)}",
    ]
    return "\n".join(lines) + "\n"
