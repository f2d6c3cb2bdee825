"""The faust App, built from settings on demand (never at import time)."""

from __future__ import annotations

import faust
from faust.app import BootStrategy

from core.kafka import faust_credentials
from core.settings import Settings


class RuntimeOnly(BootStrategy):
    """faust as the worker's runtime (tasks, timers, producer, CLI) without faust's own
    consumer: every stream of ours reads ``read_committed`` with aiokafka
    (streams/transactions.py, streams/committed.py, the lifecycle's consumer), which faust
    cannot do outside its exactly_once mode, and a faust consumer with no agent to feed
    crashes on an empty subscription. faust documents this switch on its BootStrategy."""

    enable_kafka_consumer = False


class WorkerApp(faust.App):
    BootStrategy = RuntimeOnly


def create_app(settings: Settings) -> faust.App:
    datadir = settings.run_dir / "faust" / settings.app_id
    datadir.parent.mkdir(parents=True, exist_ok=True)
    return WorkerApp(
        settings.app_id,
        broker=f"kafka://{settings.bootstrap_servers}",
        broker_credentials=faust_credentials(settings),  # SASL_SSL as the worker principal
        store=settings.table_store,
        topic_partitions=settings.partitions,
        # Topics are pre-created by the launcher with explicit partition counts; faust
        # declaring them itself is allowed only for its own changelogs.
        topic_allow_declare=True,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        web_enabled=settings.worker_web_port > 0,
        web_port=settings.worker_web_port or 6066,
        web_host="127.0.0.1",
        broker_commit_interval=1.0,
        # A killed worker's partitions move to the survivors after this long (Kafka's
        # default is 45 s); as core.kafka.group_timing, for our own consumers.
        broker_session_timeout=15.0,
        broker_heartbeat_interval=1.0,
        # Don't drain prefetched events before a rebalance or a stop: under a backlog that
        # takes minutes. Their offsets are not committed, so the next owner processes them
        # again (at-least-once; every handler is idempotent).
        stream_wait_empty=False,
        table_standby_replicas=0,
        # Table keys and values are JSON in their changelogs (keys come back as str after
        # recovery). Contract topics set raw codecs explicitly (streams/topology.py).
        key_serializer="json",
        value_serializer="json",
        producer_acks=-1,
        datadir=str(datadir),
        # Prefetch up to 16k events per stream (default 4k): with 4k the registry agent
        # waited for faust's next delivery for a third of its time under a backlog.
        stream_buffer_maxsize=16384,
    )
