"""The development broker: a single-node Apache Kafka 4.0 (KRaft) run from Maven Central jars.

Used by ``proactax broker start|stop|status|topics``, by ``make run`` and by the integration
tests. All functions are synchronous and safe to call from inside a running event loop (the
Kafka admin calls then run on a private loop in a worker thread); ``acreate_topics`` and
``alist_topics`` are the async variants.

Layout (``settings.broker_cache_path`` is shared, ``settings.broker_data_path`` per broker)::

    <cache>/libs/               the broker's jars; ``.complete`` marks a finished fetch
    <data>/cluster.id           generated once, before ``StorageTool format``
    <data>/server.properties    rendered from infra/kafka/server.properties on every start
    <data>/kraft/               log.dirs (formatted once: kraft/meta.properties)
    <data>/logs/server.log      log4j2 rolling file (infra/kafka/log4j2.properties)
    <data>/kafka.out            the JVM's stdout/stderr (WARN and above, JVM errors)
    <data>/broker.pid           pid of the running JVM
"""

from __future__ import annotations

import asyncio
import base64
import collections
import concurrent.futures
import contextlib
import dataclasses
import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import string
import subprocess
import time
import uuid
from collections.abc import Coroutine, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from aiokafka.protocol.admin import CreateAclsRequest_v1, DescribeAclsRequest
from aiokafka.protocol.api import Request

from contracts.topics import ALL_TOPICS, TopicSpec, namespaced
from proactax import kafka_security
from proactax.kafka_client import client_options
from proactax.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

INFRA_DIR = Path(__file__).resolve().parent.parent / "infra" / "kafka"
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


class BrokerError(RuntimeError):
    """The broker cannot be started, reached or configured; the message says why."""


class PortInUseError(BrokerError):
    """A port the broker needs is taken by another process."""


class TopicMismatchError(BrokerError):
    """A topic exists with a different partition count than the code declares."""


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


# --------------------------------------------------------------------------- results


@dataclasses.dataclass(frozen=True, slots=True)
class TopicsReport:
    created: tuple[str, ...]
    existing: tuple[str, ...]
    partitions: dict[str, int]  # every ensured topic -> its partition count


@dataclasses.dataclass(frozen=True, slots=True)
class BrokerHandle:
    """A running broker. ``launched`` is False when it was already running."""

    pid: int
    bootstrap_servers: str
    data_dir: Path
    launched: bool
    cold: bool  # jars fetched or storage formatted by this call
    timings: dict[str, float]  # phase -> seconds: fetch, format, jvm, topics, total
    topics: TopicsReport | None

    def describe_timing(self) -> str:
        if not self.launched:
            return "already running"
        kind = "cold" if self.cold else "warm"
        phases = ", ".join(
            f"{name} {self.timings[name]:.1f} s"
            for name in ("fetch", "format", "jvm", "topics")
            if name in self.timings
        )
        return f"{kind} start in {self.timings['total']:.1f} s ({phases})"


@dataclasses.dataclass(frozen=True, slots=True)
class BrokerStatus:
    running: bool
    pid: int | None
    bootstrap_servers: str
    data_dir: Path
    uptime_s: float | None
    answering: bool


@dataclasses.dataclass(frozen=True, slots=True)
class StopResult:
    was_running: bool
    pid: int | None
    forced: bool  # SIGKILL was needed
    duration_s: float


# --------------------------------------------------------------------------- rendering


def render_server_properties(
    settings: Settings, paths: BrokerPaths | None = None, broker_password: str = ""
) -> str:
    """``infra/kafka/server.properties`` with ports, host and directories from settings,
    and (secured) the SASL_SSL, TLS and authorizer settings of proactax/kafka_security.py."""
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


# --------------------------------------------------------------------------- processes

# JVMs started by this process: kept so that they are reaped (no zombies) and never
# garbage-collected while running (which would warn).
_children: dict[int, subprocess.Popen[bytes]] = {}


def pid_alive(pid: int) -> bool:
    """True while ``pid`` is a live process (zombies count as dead)."""
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        _children.pop(pid, None)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    state = stat.rpartition(")")[2].split()[0]
    return state not in {"Z", "X"}


def read_pid(pid_file: Path) -> int | None:
    try:
        text = pid_file.read_text().strip()
    except FileNotFoundError:
        return None
    try:
        pid = int(text)
    except ValueError:
        return None
    return pid if pid > 0 else None


def write_pid(pid_file: Path, pid: int) -> None:
    _atomic_write(pid_file, f"{pid}\n")


def is_our_broker(pid: int, paths: BrokerPaths) -> bool:
    """The process is a ``kafka.Kafka`` JVM running on this data dir's properties file.

    Guards against pid reuse after a crash: a stale pid file whose number now belongs to
    some other process is not "our broker".
    """
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    args = [a.decode(errors="replace") for a in argv if a]
    return "kafka.Kafka" in args and str(paths.properties) in args


def running_pid(paths: BrokerPaths) -> int | None:
    """The pid of our live broker, or None. Removes a stale pid file."""
    pid = read_pid(paths.pid_file)
    if pid is None:
        if paths.pid_file.exists():
            paths.pid_file.unlink(missing_ok=True)
        return None
    if pid_alive(pid) and is_our_broker(pid, paths):
        return pid
    log.debug("removing stale pid file %s (pid %s)", paths.pid_file, pid)
    paths.pid_file.unlink(missing_ok=True)
    return None


def process_uptime_s(pid: int) -> float | None:
    """Seconds since the process started (Linux /proc), None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        start_ticks = int(stat.rpartition(")")[2].split()[19])
        with open("/proc/uptime") as f:
            system_uptime = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(0.0, system_uptime - start_ticks / os.sysconf("SC_CLK_TCK"))


# --------------------------------------------------------------------------- ports


def port_free(host: str, port: int) -> bool:
    """Whether a listening socket could be bound on (host, port) right now.

    Binds with SO_REUSEADDR, as the JVM does, so that connections of a broker that just
    stopped (TIME_WAIT) do not count as "in use".
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise BrokerError(f"cannot bind {host}:{port}: {exc}") from exc
    return True


def port_answers(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """Something accepts TCP connections on (host, port)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def check_ports_free(settings: Settings) -> None:
    """Raise :class:`PortInUseError` naming every port the broker needs that is taken."""
    if settings.broker_port == settings.controller_port:
        raise BrokerError(
            f"PROACTAX_BROKER_PORT and PROACTAX_CONTROLLER_PORT are both {settings.broker_port}"
        )
    ports = (("broker", settings.broker_port), ("controller", settings.controller_port))
    taken = [
        f"{name} port {settings.broker_host}:{port}"
        for name, port in ports
        if not port_free(settings.broker_host, port)
    ]
    if taken:
        raise PortInUseError(
            f"{' and '.join(taken)} already in use by another process (not a broker of "
            f"{settings.broker_data_path}). Stop it, or choose other ports with "
            "PROACTAX_BROKER_PORT / PROACTAX_CONTROLLER_PORT. To see who holds it: "
            f"ss -ltnp 'sport = :{settings.broker_port}'"
        )


# --------------------------------------------------------------------------- files


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
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


def _pom_digest() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()


def jars_ready(paths: BrokerPaths) -> bool:
    marker = paths.libs / COMPLETE_MARKER
    try:
        return json.loads(marker.read_text()).get("pom_sha256") == _pom_digest()
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
    with _file_lock(paths.cache / ".fetch.lock"):
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
        marker = {"pom_sha256": _pom_digest(), "jars": jars}
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
    _atomic_write(paths.cluster_id_file, value + "\n")
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


def _check_format_matches(paths: BrokerPaths, settings: Settings) -> None:
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
        _atomic_write(record, json.dumps(current))
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


# --------------------------------------------------------------------------- async bridge


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _admin_options(settings: Settings) -> dict[str, Any]:
    """The launcher acts as the admin: the configured user (production: its own password),
    else "admin" from the launcher's credentials file."""
    if settings.kafka_username:
        return client_options(settings)
    return client_options(settings, kafka_security.ADMIN)


async def _admin(settings: Settings, request_timeout_ms: int = 10_000) -> Any:
    from aiokafka.admin import AIOKafkaAdminClient

    client = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id="proactax-broker-launcher",
        request_timeout_ms=request_timeout_ms,
        **_admin_options(settings),
    )
    try:
        await client.start()
    except BaseException:
        await client.close()
        raise
    return client


async def _probe(settings: Settings) -> bool:
    """The broker answers a metadata request and lists itself as an (unfenced) broker."""
    from aiokafka.errors import KafkaError

    try:
        client = await _admin(settings, request_timeout_ms=3_000)
    except (TimeoutError, KafkaError, OSError):
        return False
    try:
        cluster = await client.describe_cluster()
        return bool(cluster.get("brokers"))
    except (TimeoutError, KafkaError, OSError):
        return False
    finally:
        await client.close()


def broker_answers(settings: Settings) -> bool:
    if not port_answers(settings.broker_host, settings.broker_port):
        return False
    return _run(_probe(settings))


# --------------------------------------------------------------------------- topics


async def alist_topics(settings: Settings, *, include_internal: bool = False) -> dict[str, int]:
    """Topic name -> partition count, from the broker's metadata."""
    client = await _admin(settings)
    try:
        return await _partition_counts(client, include_internal=include_internal)
    finally:
        await client.close()


async def _partition_counts(client: Any, *, include_internal: bool = False) -> dict[str, int]:
    counts: dict[str, int] = {}
    for topic in await client.describe_topics():
        if topic.get("error_code"):
            continue  # e.g. still being created: leader not yet available
        if topic.get("is_internal") and not include_internal:
            continue
        counts[topic["topic"]] = len(topic["partitions"])
    return counts


def list_topics(settings: Settings, *, include_internal: bool = False) -> dict[str, int]:
    """Sync :func:`alist_topics`."""
    return _run(alist_topics(settings, include_internal=include_internal))


async def acreate_topics(
    settings: Settings,
    specs: Iterable[TopicSpec] = ALL_TOPICS,
    namespace: str | None = None,
    *,
    configs: Mapping[str, str] | None = None,
    timeout_s: float = 30.0,
) -> TopicsReport:
    """Create every topic of ``specs`` (namespaced) with its partition count, idempotently.

    ``namespace=None`` means ``settings.topic_namespace``. ``configs`` are topic configs for
    the topics this call creates (e.g. ``{"cleanup.policy": "compact"}`` for changelogs); they
    are not compared on existing topics. Topics that already exist with the declared partition
    count are fine; a different count raises :class:`TopicMismatchError`.
    Returns once every topic is visible in the broker's metadata with all its partitions.
    """
    from aiokafka.admin import NewTopic
    from aiokafka.errors import TopicAlreadyExistsError, for_code

    ns = settings.topic_namespace if namespace is None else namespace
    wanted = {namespaced(spec.name, ns): spec.partitions(settings.partitions) for spec in specs}
    deadline = time.monotonic() + timeout_s
    client = await _admin(settings)
    try:
        existing = await _partition_counts(client, include_internal=True)
        missing = [name for name in wanted if name not in existing]
        created: list[str] = []
        if missing:
            response = await client.create_topics(
                [
                    NewTopic(name, wanted[name], 1, topic_configs=dict(configs or {}))
                    for name in missing
                ],
                timeout_ms=int(timeout_s * 1000),
            )
            for topic, code, *rest in response.topic_errors:
                if code == 0:
                    created.append(topic)
                    continue
                error = for_code(code)
                if error is TopicAlreadyExistsError:  # created concurrently: check below
                    continue
                message = rest[0] if rest and rest[0] else error.__name__
                raise BrokerError(f"creating topic {topic} failed: {message}")
        # Wait until metadata shows every topic with all its partitions, then compare.
        while True:
            current = await _partition_counts(client, include_internal=True)
            if all(name in current for name in wanted):
                mismatched = {
                    name: (wanted[name], current[name])
                    for name in wanted
                    if current[name] != wanted[name]
                }
                if not mismatched:
                    break
                if not any(name in created for name in mismatched):
                    details = ", ".join(
                        f"{name} has {have} partitions, the code declares {want}"
                        for name, (want, have) in sorted(mismatched.items())
                    )
                    raise TopicMismatchError(
                        f"{details}. Delete the topic(s) (or the broker data dir) or fix "
                        "PROACTAX_PARTITIONS; partition counts never change silently."
                    )
            if time.monotonic() > deadline:
                absent = sorted(name for name in wanted if current.get(name) != wanted[name])
                raise BrokerError(f"topics not ready within {timeout_s:.0f} s: {absent}")
            await asyncio.sleep(0.05)
    finally:
        await client.close()
    return TopicsReport(
        created=tuple(created),
        existing=tuple(name for name in wanted if name not in created),
        partitions=wanted,
    )


def create_topics(
    settings: Settings,
    specs: Iterable[TopicSpec] = ALL_TOPICS,
    namespace: str | None = None,
    *,
    configs: Mapping[str, str] | None = None,
    timeout_s: float = 30.0,
) -> TopicsReport:
    """Sync :func:`acreate_topics`; callable from sync code and from inside an event loop."""
    return _run(acreate_topics(settings, specs, namespace, configs=configs, timeout_s=timeout_s))


# --------------------------------------------------------------------------- lifecycle


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise BrokerError("java is not on PATH (Kafka 4.0 needs Java 17)")
    return java


def _wait_ready(
    settings: Settings, paths: BrokerPaths, pid: int, deadline: float, *, ours: bool
) -> None:
    """Poll until the broker answers; fail fast with its log if the JVM dies."""
    host, port = settings.broker_host, settings.broker_port
    while True:
        if not pid_alive(pid):
            paths.pid_file.unlink(missing_ok=True)
            raise BrokerError(
                f"the Kafka JVM (pid {pid}) exited during start-up. "
                f"Last lines of {paths.stdout_log}:\n{tail(paths.stdout_log)}"
                f"(full log: {paths.server_log})"
            )
        if port_answers(host, port) and _run(_probe(settings)):
            return
        if time.monotonic() > deadline:
            fate = "stopped it" if ours else "it is left running (`proactax broker stop` ends it)"
            raise BrokerError(
                f"the broker (pid {pid}) did not answer on {host}:{port} within "
                f"{settings.broker_start_timeout_s:.0f} s (PROACTAX_BROKER_START_TIMEOUT_S); "
                f"{fate}. Last lines of {paths.server_log}:\n{tail(paths.server_log)}"
            )
        time.sleep(0.1)


def start(
    settings: Settings,
    *,
    topics: Iterable[TopicSpec] | None = ALL_TOPICS,
    namespace: str | None = None,
) -> BrokerHandle:
    """Start the broker unless it runs already, wait until it answers, create ``topics``.

    Idempotent: with a broker of this data dir already running it only (re)ensures the
    topics and returns a handle with ``launched=False``. ``topics=None`` skips topic
    creation. Raises :class:`PortInUseError` when a port is held by something else and
    :class:`BrokerError` (with the JVM's log tail) when the broker cannot start.
    """
    paths = BrokerPaths.of(settings)
    t0 = time.monotonic()
    timings: dict[str, float] = {}
    launched = cold = False
    paths.data.mkdir(parents=True, exist_ok=True)
    with _file_lock(paths.lock_file):
        pid = running_pid(paths)
        if pid is not None:
            log.info("broker already running (pid %s) on %s", pid, settings.bootstrap_servers)
            deadline = time.monotonic() + settings.broker_start_timeout_s
            _wait_ready(settings, paths, pid, deadline, ours=False)  # it may still be starting
        else:
            check_ports_free(settings)
            java = _java()
            step = time.monotonic()
            if fetch_jars(paths):
                cold = True
                timings["fetch"] = time.monotonic() - step
            _check_format_matches(paths, settings)
            credentials = _ensure_security_files(settings, paths)
            # 0600: a secured broker's properties hold its own SCRAM password
            kafka_security.write_private_text(
                paths.properties,
                render_server_properties(
                    settings, paths, credentials.get(kafka_security.BROKER, "")
                ),
            )
            step = time.monotonic()
            if format_storage(paths, java, credentials):
                cold = True
                timings["format"] = time.monotonic() - step
            paths.logs.mkdir(parents=True, exist_ok=True)
            step = time.monotonic()
            pid = _launch(settings, paths, java)
            launched = True
            try:
                _wait_ready(settings, paths, pid, step + settings.broker_start_timeout_s, ours=True)
            except BaseException:  # deadline, Ctrl-C: leave no half-started JVM behind
                _terminate(pid, timeout_s=10.0)
                paths.pid_file.unlink(missing_ok=True)
                raise
            timings["jvm"] = time.monotonic() - step
    report = None
    if topics is not None:
        step = time.monotonic()
        report = create_topics(settings, topics, namespace)
        ns = settings.topic_namespace if namespace is None else namespace
        grant_acls(dataclasses.replace(settings, topic_namespace=ns))
        timings["topics"] = time.monotonic() - step
    timings["total"] = time.monotonic() - t0
    return BrokerHandle(
        pid=pid,
        bootstrap_servers=settings.bootstrap_servers,
        data_dir=paths.data,
        launched=launched,
        cold=cold,
        timings=timings,
        topics=report,
    )


def ensure_broker(
    settings: Settings,
    *,
    topics: Iterable[TopicSpec] | None = ALL_TOPICS,
    namespace: str | None = None,
) -> BrokerHandle:
    """A running broker with ``topics`` created: the one already running, or a new one."""
    return start(settings, topics=topics, namespace=namespace)


def _ensure_security_files(settings: Settings, paths: BrokerPaths) -> dict[str, str]:
    """A secured broker's SCRAM passwords (generated before the first format) and TLS files.

    Empty for a PLAINTEXT broker. The passwords live in ``<data>/credentials.json`` (0600)
    and are created with the storage: a data dir formatted without them, or without a
    principal the code now declares, must be deleted to start afresh.
    """
    if not settings.kafka_secured:
        return {}
    wanted = (kafka_security.BROKER, *kafka_security.PRINCIPALS)
    if paths.credentials.exists():
        credentials = kafka_security.read_credentials(paths.credentials)
        missing = [name for name in wanted if name not in credentials]
        if missing:
            raise BrokerError(
                f"{paths.data} was formatted without the Kafka users {', '.join(missing)} "
                f"(proactax/kafka_security.py declares them). Delete {paths.data} (its topics "
                "and data) to start afresh."
            )
    elif paths.meta_properties.exists():
        raise BrokerError(
            f"{paths.data} is formatted but has no credentials.json: its SCRAM users are "
            f"unknown. Delete {paths.data} (its topics and data) to start afresh."
        )
    else:
        credentials = kafka_security.new_credentials(wanted)
        kafka_security.write_credentials(paths.credentials, credentials)
    kafka_security.ensure_tls(paths.tls, [settings.broker_host])
    return credentials


class _CreateAcls(Request[CreateAclsRequest_v1]):
    """CreateAcls (v1) with many bindings in one request (aiokafka's own takes one)."""

    API_KEY = 30

    def __init__(self, bindings: Iterable[kafka_security.AclBinding]) -> None:
        self.bindings = list(bindings)

    def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> CreateAclsRequest_v1:
        return request_struct_class(
            [
                (
                    int(b.resource_type),
                    b.resource_name,
                    int(b.pattern),
                    f"User:{b.principal}",
                    "*",
                    int(b.operation),
                    kafka_security.ALLOW,
                )
                for b in self.bindings
            ]
        )


async def agrant_acls(settings: Settings, timeout_s: float = 30.0) -> int:
    """Create the ACLs of :func:`kafka_security.acl_bindings` for ``settings.topic_namespace``
    and ``settings.app_id`` (idempotent: an existing binding is no error). Returns how many
    bindings were sent; 0 for a PLAINTEXT broker (no authorizer). Returns once the
    broker enforces them."""
    if not settings.kafka_secured:
        return 0
    from aiokafka.client import AIOKafkaClient
    from aiokafka.errors import for_code

    bindings = kafka_security.acl_bindings(settings)
    client = AIOKafkaClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id="proactax-broker-launcher",
        **_admin_options(settings),
    )
    try:
        await client.bootstrap()
        node = client.get_random_node()
        response = await client.send(node, _CreateAcls(bindings))
        failed = [
            f"{binding}: {message or for_code(code).__name__}"
            for binding, (code, message) in zip(bindings, response.creation_responses, strict=True)
            if code
        ]
        if failed:
            raise BrokerError("creating ACLs failed: " + "; ".join(failed[:5]))
        # The controller has them; the broker's authorizer applies the metadata a moment
        # later. They are applied in order, so once the last is visible, all are.
        last = bindings[-1]
        probe = DescribeAclsRequest(
            int(last.resource_type),
            last.resource_name,
            int(last.pattern),
            f"User:{last.principal}",
            "*",
            int(last.operation),
            kafka_security.ALLOW,
        )
        deadline = time.monotonic() + timeout_s
        while not (await client.send(node, probe)).resources:
            if time.monotonic() > deadline:
                raise BrokerError(f"ACLs not in effect within {timeout_s:.0f} s")
            await asyncio.sleep(0.02)
    finally:
        await client.close()
    return len(bindings)


def grant_acls(settings: Settings) -> int:
    """Sync :func:`agrant_acls`."""
    return _run(agrant_acls(settings))


def _launch(settings: Settings, paths: BrokerPaths, java: str) -> int:
    command = java_command(settings, paths, java)
    with open(paths.stdout_log, "ab") as out:
        out.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S%z')} {' '.join(command)}\n".encode())
        out.flush()
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=paths.data,
            start_new_session=True,  # the caller's Ctrl-C does not reach the broker
            close_fds=True,
        )
    _children[child.pid] = child
    write_pid(paths.pid_file, child.pid)
    log.info("started Kafka JVM pid %s (heap %s)", child.pid, settings.broker_heap)
    return child.pid


def _wait_exit(pid: int, deadline: float) -> bool:
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _terminate(pid: int, timeout_s: float) -> bool:
    """SIGTERM, then SIGKILL after ``timeout_s``; returns once the process is gone.

    True if SIGKILL was needed.
    """
    forced = False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _wait_exit(pid, time.monotonic() + timeout_s):
        log.warning("broker pid %s ignored SIGTERM for %.0f s: SIGKILL", pid, timeout_s)
        forced = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if not _wait_exit(pid, time.monotonic() + 10.0):
            raise BrokerError(f"broker pid {pid} survived SIGKILL")
    _children.pop(pid, None)
    return forced


def stop(settings: Settings, *, timeout_s: float = DEFAULT_STOP_TIMEOUT_S) -> StopResult:
    """SIGTERM (controlled shutdown), SIGKILL after ``timeout_s``; returns when it is gone."""
    paths = BrokerPaths.of(settings)
    t0 = time.monotonic()
    if not paths.data.exists():
        return StopResult(was_running=False, pid=None, forced=False, duration_s=0.0)
    with _file_lock(paths.lock_file):
        pid = running_pid(paths)
        if pid is None:
            return StopResult(False, None, False, time.monotonic() - t0)
        forced = _terminate(pid, timeout_s)
        paths.pid_file.unlink(missing_ok=True)
        return StopResult(True, pid, forced, time.monotonic() - t0)


def status(settings: Settings) -> BrokerStatus:
    paths = BrokerPaths.of(settings)
    pid = running_pid(paths) if paths.data.exists() else None
    return BrokerStatus(
        running=pid is not None,
        pid=pid,
        bootstrap_servers=settings.bootstrap_servers,
        data_dir=paths.data,
        uptime_s=process_uptime_s(pid) if pid is not None else None,
        answering=pid is not None and broker_answers(settings),
    )


CHANGELOG_CONFIGS = {"cleanup.policy": "compact"}


def create_worker_topics(settings: Settings) -> None:
    """Every topic the stream worker declares: contract topics (namespaced) and the tables'
    compacted changelogs, each with its explicit partition count."""
    from streams.topology import INTERNAL_TOPICS, changelog_specs

    create_topics(settings)
    create_topics(settings, INTERNAL_TOPICS)
    create_topics(settings, changelog_specs(settings), namespace="", configs=CHANGELOG_CONFIGS)
    grant_acls(settings)
