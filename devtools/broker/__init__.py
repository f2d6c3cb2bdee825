"""The development broker: a single-node Apache Kafka 4.0 (KRaft) run from Maven Central jars.

Developer tooling, not product: used by ``proactax broker start|stop|status``, by ``make run``
and by the tests. ``install`` fetches the jars and formats the storage, ``launcher`` runs
the JVM; topics and ACLs are created through ops/kafka_admin.py (what an operator does on
any cluster). This module re-exports what callers use: ``from devtools import broker``.

Layout (``settings.broker_cache_path`` is shared, ``settings.broker_data_path`` per broker)::

    <cache>/libs/               the broker's jars; ``.complete`` marks a finished fetch
    <data>/cluster.id           generated once, before ``StorageTool format``
    <data>/server.properties    rendered from infra/kafka/server.properties on every start
    <data>/kraft/               log.dirs (formatted once: kraft/meta.properties)
    <data>/logs/server.log      log4j2 rolling file (infra/kafka/log4j2.properties)
    <data>/kafka.out            the JVM's stdout/stderr (WARN and above, JVM errors)
    <data>/broker.pid           pid of the running JVM
"""

from devtools.broker.install import (
    BrokerPaths,
    PortInUseError,
    check_format_matches,
    cluster_id,
    fetch_jars,
    format_storage,
    jars_ready,
    java_command,
    new_cluster_id,
    parse_properties,
    pom_digest,
    render_server_properties,
    tail,
)
from devtools.broker.launcher import (
    BrokerHandle,
    BrokerStatus,
    StopResult,
    check_ports_free,
    ensure_broker,
    ensure_security_files,
    is_our_broker,
    pid_alive,
    port_free,
    process_uptime_s,
    read_pid,
    running_pid,
    start,
    status,
    stop,
    write_pid,
)
from ops.kafka_admin import (
    BrokerError,
    TopicMismatchError,
    TopicsReport,
    acreate_topics,
    alist_topics,
    broker_answers,
    create_topics,
    create_worker_topics,
    grant_acls,
    list_topics,
    port_answers,
    run_sync,
)

__all__ = [
    "BrokerError",
    "BrokerHandle",
    "BrokerPaths",
    "BrokerStatus",
    "PortInUseError",
    "StopResult",
    "TopicMismatchError",
    "TopicsReport",
    "acreate_topics",
    "alist_topics",
    "broker_answers",
    "check_format_matches",
    "check_ports_free",
    "cluster_id",
    "create_topics",
    "create_worker_topics",
    "ensure_broker",
    "ensure_security_files",
    "fetch_jars",
    "format_storage",
    "grant_acls",
    "is_our_broker",
    "jars_ready",
    "java_command",
    "list_topics",
    "new_cluster_id",
    "parse_properties",
    "pid_alive",
    "pom_digest",
    "port_answers",
    "port_free",
    "process_uptime_s",
    "read_pid",
    "render_server_properties",
    "run_sync",
    "running_pid",
    "start",
    "status",
    "stop",
    "tail",
    "write_pid",
]
