"""The development broker's files: its jars (Maven Central), rendered configuration and
formatted storage; paths under ``settings.broker_cache_path`` and ``broker_data_path``
(the layout is in devtools/broker/__init__.py)."""

from __future__ import annotations

import base64
import collections
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import shutil
import string
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TypeVar

from core.settings import Settings
from ops import kafka_security
from ops.kafka_admin import BrokerError

log = logging.getLogger(__name__)

T = TypeVar("T")

INFRA_DIR = Path(__file__).resolve().parents[2] / "infra" / "kafka"
POM = INFRA_DIR / "pom.xml"
SERVER_PROPERTIES_TEMPLATE = INFRA_DIR / "server.properties"
LOG4J2_PROPERTIES = INFRA_DIR / "log4j2.properties"

NODE_ID = 1
# Partitions of __consumer_offsets and __transaction_state (Kafka's default is 50 each; a
# development broker does not need them, and fewer make the first group join faster).
INTERNAL_TOPIC_PARTITIONS = 8
COMPLETE_MARKER = ".complete"
FETCH_TIMEOUT_S = 600.0
FORMAT_TIMEOUT_S = 120.0
DEFAULT_STOP_TIMEOUT_S = 30.0
LOG_TAIL_LINES = 40


class PortInUseError(BrokerError):
    """A port the broker needs is taken by another process."""


# --------------------------------------------------------------------------- paths


@dataclasses.dataclass(frozen=True, slots=True)
class BrokerPaths:
    cache: Path
    data: Path

    @classmethod
    def of(cls, settings: Settings) -> BrokerPaths:
        return cls(cache=settings.broker_cache_path, data=settings.broker_data_path)

    @property
    def libs(self) -> Path:
        return self.cache / "libs"

    @property
    def properties(self) -> Path:
        return self.data / "server.properties"

    @property
    def log_dirs(self) -> Path:
        return self.data / "kraft"

    @property
    def meta_properties(self) -> Path:
        return self.log_dirs / "meta.properties"

    @property
    def cluster_id_file(self) -> Path:
        return self.data / "cluster.id"

    @property
    def logs(self) -> Path:
        return self.data / "logs"

    @property
    def server_log(self) -> Path:
        return self.logs / "server.log"

    @property
    def stdout_log(self) -> Path:
        return self.data / "kafka.out"

    @property
    def pid_file(self) -> Path:
        return self.data / "broker.pid"

    @property
    def lock_file(self) -> Path:
        return self.data / ".launcher.lock"

    @property
    def credentials(self) -> Path:
        return self.data / "credentials.json"

    @property
    def tls(self) -> kafka_security.TlsFiles:
        return kafka_security.TlsFiles(self.data / "tls")


# --------------------------------------------------------------------------- rendering


def render_server_properties(
    settings: Settings, paths: BrokerPaths | None = None, broker_password: str = ""
) -> str:
    """``infra/kafka/server.properties`` with ports, host and directories from settings,
    and (secured) the SASL_SSL, TLS and authorizer settings of ops/kafka_security.py."""
    paths = paths or BrokerPaths.of(settings)
    template = string.Template(SERVER_PROPERTIES_TEMPLATE.read_text(encoding="utf-8"))
    secured = settings.kafka_secured
    return template.substitute(
        broker_host=settings.broker_host,
        broker_port=settings.broker_port,
        controller_port=settings.controller_port,
        log_dirs=paths.log_dirs,
        partitions=settings.partitions,
        internal_partitions=INTERNAL_TOPIC_PARTITIONS,
        client_listener="SASL_SSL" if secured else "PLAINTEXT",
        controller_protocol="SSL" if secured else "PLAINTEXT",
        security=(
            kafka_security.server_security_properties(paths.tls, broker_password) if secured else ""
        ),
    )


def parse_properties(text: str) -> dict[str, str]:
    """Minimal Java properties reader (``key=value`` lines, ``#`` comments)."""
    result: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "!")):
            continue
        key, _, value = line.partition("=")
        result[key.strip()] = value.strip()
    return result


def new_cluster_id() -> str:
    """A Kafka ``Uuid`` string: 16 random bytes, URL-safe base64 without padding."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not text.startswith("-"):  # Kafka avoids ids that look like a CLI flag
            return text


def java_command(settings: Settings, paths: BrokerPaths, java: str = "java") -> list[str]:
    heap = settings.broker_heap
    return [
        java,
        f"-Xms{heap}",
        f"-Xmx{heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:+ExplicitGCInvokesConcurrent",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={LOG4J2_PROPERTIES}",
        "-Dlog4j2.shutdownHookEnabled=false",  # keep logging through Kafka's own shutdown
        f"-Dkafka.logs.dir={paths.logs}",
        "-cp",
        f"{paths.libs}/*",
        "kafka.Kafka",
        str(paths.properties),
    ]


# --------------------------------------------------------------------------- files


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock: one launcher at a time per data dir / jar cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return "".join(collections.deque(handle, maxlen=lines))
    except FileNotFoundError:
        return ""


# --------------------------------------------------------------------------- jars


def pom_digest() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()


def jars_ready(paths: BrokerPaths) -> bool:
    marker = paths.libs / COMPLETE_MARKER
    try:
        return json.loads(marker.read_text()).get("pom_sha256") == pom_digest()
    except (OSError, ValueError, AttributeError):
        return False


def fetch_jars(paths: BrokerPaths, mvn: str | None = None) -> bool:
    """Copy the broker's runtime jars into ``<cache>/libs`` once. True if it fetched.

    Maven writes into a temporary sibling directory that is renamed into place only when
    complete (with a marker holding the pom's digest), so an interrupted fetch never leaves
    a half-filled ``libs``; a changed pom fetches again.
    """
    if jars_ready(paths):
        return False
    with file_lock(paths.cache / ".fetch.lock"):
        if jars_ready(paths):
            return False
        mvn = mvn or shutil.which("mvn")
        if mvn is None:
            raise BrokerError("Maven (mvn) is not on PATH; it fetches the Kafka jars")
        tmp = paths.cache / f"libs.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        command = [
            mvn,
            "-q",
            "-B",
            "-Dstyle.color=never",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={tmp}",
        ]
        log.info("fetching Kafka jars (once) into %s", paths.libs)
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=FETCH_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise BrokerError(f"mvn did not finish within {FETCH_TIMEOUT_S:.0f} s") from exc
        jars = sorted(p.name for p in tmp.glob("*.jar")) if tmp.is_dir() else []
        if done.returncode != 0 or not any(j.startswith("kafka_2.13-") for j in jars):
            shutil.rmtree(tmp, ignore_errors=True)
            output = (done.stdout + done.stderr).strip()[-4000:]
            raise BrokerError(f"fetching the Kafka jars failed ({' '.join(command)}):\n{output}")
        marker = {"pom_sha256": pom_digest(), "jars": jars}
        (tmp / COMPLETE_MARKER).write_text(json.dumps(marker, indent=1))
        if paths.libs.exists():  # stale: from another pom, or incomplete
            shutil.rmtree(paths.libs)
        os.rename(tmp, paths.libs)
        return True


# --------------------------------------------------------------------------- storage


def cluster_id(paths: BrokerPaths) -> str:
    """The data dir's cluster id, generated and stored on first use."""
    try:
        existing = paths.cluster_id_file.read_text().strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing
    value = new_cluster_id()
    atomic_write(paths.cluster_id_file, value + "\n")
    return value


def format_storage(
    paths: BrokerPaths, java: str = "java", credentials: Mapping[str, str] | None = None
) -> bool:
    """``StorageTool format --standalone`` once per data dir. True if it formatted.

    Kafka 4.0: ``--standalone`` bootstraps a single-node *dynamic* quorum, which requires
    ``controller.quorum.bootstrap.servers`` and forbids ``controller.quorum.voters``.
    ``credentials`` (user -> password) become SCRAM-SHA-512 users in the metadata log
    (``--add-scram``, KIP-900): the broker can authenticate its own connections at once.
    """
    if paths.meta_properties.exists():
        return False
    command = [
        java,
        f"-Dlog4j2.configurationFile={LOG4J2_PROPERTIES}",
        f"-Dkafka.logs.dir={paths.logs}",
        "-cp",
        f"{paths.libs}/*",
        "kafka.tools.StorageTool",
        "format",
        "--standalone",
        "--cluster-id",
        cluster_id(paths),
        "--config",
        str(paths.properties),
        *kafka_security.scram_arguments(dict(credentials or {})),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=FORMAT_TIMEOUT_S, check=False
    )
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()[-4000:]
        for password in (credentials or {}).values():
            output = output.replace(password, "***")
        raise BrokerError(f"formatting Kafka storage in {paths.log_dirs} failed:\n{output}")
    return True


def check_format_matches(paths: BrokerPaths, settings: Settings) -> None:
    """The standalone quorum records the controller endpoint at format time, a secured
    broker its SCRAM users."""
    record = paths.data / "formatted-with.json"
    current = {
        "controller": f"{settings.broker_host}:{settings.controller_port}",
        "security": settings.kafka_security_protocol,
    }
    try:
        before = json.loads(record.read_text())
    except (OSError, ValueError):
        atomic_write(record, json.dumps(current))
        return
    if before.get("security", "PLAINTEXT") != current["security"]:
        raise BrokerError(
            f"{paths.data} was formatted for a {before.get('security', 'PLAINTEXT')} broker, "
            f"settings now say {current['security']} (PROACTAX_KAFKA_SECURITY_PROTOCOL; the "
            "SCRAM users are created when storage is formatted). Delete "
            f"{paths.data} (its topics and data) to start afresh, or use another "
            "PROACTAX_BROKER_DATA_DIR."
        )
    if before.get("controller") != current["controller"]:
        raise BrokerError(
            f"{paths.data} was formatted for controller {before.get('controller')}, "
            f"settings now say {current['controller']}. Use the old ports or delete "
            f"{paths.data} (its topics and data) to start afresh."
        )
