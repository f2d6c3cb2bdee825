"""``proactax broker start|stop|status|topics``: the development Kafka broker.

Exit codes: 0 success (``status``: running), 1 error, 3 ``status``: not running.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

EXIT_NOT_RUNNING = 3


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "broker",
        help="run the local single-node Kafka broker",
        description="The local single-node Kafka 4.0 broker (KRaft) for development and tests.",
    )
    actions = parser.add_subparsers(dest="broker_command", required=True)

    start = actions.add_parser(
        "start",
        help="fetch jars and format storage if needed, start, wait, create topics",
    )
    start.set_defaults(handler=cmd_start)

    stop = actions.add_parser("stop", help="stop the broker (SIGTERM, then SIGKILL)")
    stop.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="wait this long for a controlled shutdown before SIGKILL (default 30)",
    )
    stop.set_defaults(handler=cmd_stop)

    status = actions.add_parser("status", help="running or not; exit code 3 if not")
    status.set_defaults(handler=cmd_status)

    topics = actions.add_parser("topics", help="list topics and partition counts")
    topics.add_argument(
        "--internal", action="store_true", help="include internal topics (__consumer_offsets)"
    )
    topics.set_defaults(handler=cmd_topics)

    acls = actions.add_parser(
        "acls",
        help="grant every principal its ACLs (ops/kafka_security.py) as the admin",
    )
    acls.set_defaults(handler=cmd_acls)

    tls = actions.add_parser(
        "tls", help="make a CA and a broker certificate (PEM) in a directory, once"
    )
    tls.add_argument("directory", type=Path, help="where ca.pem, ca.key, broker.pem go")
    tls.add_argument(
        "--host", action="append", default=[], help="a name or address of the broker (repeat)"
    )
    tls.set_defaults(handler=cmd_tls)


def _setup_logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    logging.getLogger("devtools.broker").setLevel(logging.INFO)


def _fail(message: object) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def cmd_start(args: argparse.Namespace) -> int:
    from core.settings import get_settings
    from devtools import broker

    _setup_logging()
    settings = get_settings()
    try:
        handle = broker.start(settings)
        broker.create_worker_topics(settings)  # adds the tables' changelogs
    except broker.BrokerError as exc:
        return _fail(exc)
    if handle.launched:
        print(f"broker running: pid {handle.pid}, {handle.bootstrap_servers}")
    else:
        print(
            f"broker already running: pid {handle.pid}, {handle.bootstrap_servers} "
            "(nothing started)"
        )
    if handle.topics is not None:
        report = handle.topics
        print(f"topics: {len(report.created)} created, {len(report.existing)} already there")
    print(handle.describe_timing())
    print(f"data dir: {handle.data_dir}")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from core.settings import get_settings
    from devtools import broker

    _setup_logging()
    try:
        result = broker.stop(get_settings(), timeout_s=args.timeout)
    except broker.BrokerError as exc:
        return _fail(exc)
    if not result.was_running:
        print("broker not running (nothing to stop)")
        return 0
    how = "killed (SIGKILL)" if result.forced else "stopped"
    print(f"broker {how}: pid {result.pid} in {result.duration_s:.1f} s")
    return 0


def _duration(seconds: float) -> str:
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{seconds:.1f}s"


def cmd_status(args: argparse.Namespace) -> int:
    from core.settings import get_settings
    from devtools import broker

    _setup_logging()
    result = broker.status(get_settings())
    if not result.running:
        print(f"broker not running (bootstrap {result.bootstrap_servers}, data {result.data_dir})")
        return EXIT_NOT_RUNNING
    uptime = _duration(result.uptime_s) if result.uptime_s is not None else "unknown"
    answering = "answering" if result.answering else "NOT answering (starting or hung)"
    print(f"broker running: pid {result.pid}")
    print(f"  bootstrap: {result.bootstrap_servers} ({answering})")
    print(f"  uptime:    {uptime}")
    print(f"  data dir:  {result.data_dir}")
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    from core.settings import get_settings
    from devtools import broker

    _setup_logging()
    settings = get_settings()
    if not broker.broker_answers(settings):
        return _fail(f"no broker answers on {settings.bootstrap_servers}")
    try:
        counts = broker.list_topics(settings, include_internal=args.internal)
    except Exception as exc:  # aiokafka errors: report, do not trace back
        return _fail(f"listing topics failed: {exc!r}")
    if not counts:
        print("no topics")
        return 0
    width = max(len(name) for name in counts)
    for name in sorted(counts):
        print(f"{name:<{width}}  {counts[name]:>3}")
    return 0


def cmd_acls(args: argparse.Namespace) -> int:
    """The topic namespace and app id of the settings; the admin logs in with
    PROACTAX_KAFKA_USERNAME/_PASSWORD, or as "admin" from the launcher's credentials file."""
    from core.settings import get_settings
    from devtools import broker

    _setup_logging()
    settings = get_settings()
    try:
        count = broker.grant_acls(settings)
    except Exception as exc:  # aiokafka errors: report, do not trace back
        return _fail(f"granting ACLs failed: {exc!r}")
    print(f"{count} ACL bindings in effect on {settings.bootstrap_servers}")
    return 0


def cmd_tls(args: argparse.Namespace) -> int:
    from ops.kafka_security import TlsFiles, ensure_tls

    files = TlsFiles(args.directory)
    made = ensure_tls(files, args.host)
    print(f"{'made' if made else 'kept'} {files.ca} and {files.broker}")
    return 0
