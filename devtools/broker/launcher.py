"""The development broker's process: start (fetch, format, launch, wait, topics, ACLs),
stop and status; see devtools/broker/__init__.py for the layout on disk."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from contracts.topics import ALL_TOPICS, TopicSpec
from core.kafka import read_credentials
from core.settings import Settings
from devtools.broker.install import (
    DEFAULT_STOP_TIMEOUT_S,
    BrokerPaths,
    PortInUseError,
    atomic_write,
    check_format_matches,
    fetch_jars,
    file_lock,
    format_storage,
    java_command,
    render_server_properties,
    tail,
)
from ops import kafka_security
from ops.kafka_admin import (
    BrokerError,
    TopicsReport,
    broker_answers,
    create_topics,
    grant_acls,
    port_answers,
    probe,
    run_sync,
)

log = logging.getLogger(__name__)


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
    atomic_write(pid_file, f"{pid}\n")


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
        if port_answers(host, port) and run_sync(probe(settings)):
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
    with file_lock(paths.lock_file):
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
            check_format_matches(paths, settings)
            credentials = ensure_security_files(settings, paths)
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


def ensure_security_files(settings: Settings, paths: BrokerPaths) -> dict[str, str]:
    """A secured broker's SCRAM passwords (generated before the first format) and TLS files.

    Empty for a PLAINTEXT broker. The passwords live in ``<data>/credentials.json`` (0600)
    and are created with the storage: a data dir formatted without them, or without a
    principal the code now declares, must be deleted to start afresh.
    """
    if not settings.kafka_secured:
        return {}
    wanted = (kafka_security.BROKER, *kafka_security.PRINCIPALS)
    if paths.credentials.exists():
        credentials = read_credentials(paths.credentials)
        missing = [name for name in wanted if name not in credentials]
        if missing:
            raise BrokerError(
                f"{paths.data} was formatted without the Kafka users {', '.join(missing)} "
                f"(ops/kafka_security.py declares them). Delete {paths.data} (its topics "
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
    with file_lock(paths.lock_file):
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
