"""How long a registry waits for its receipt (issue 17, docs/integrators.md §8a).

Starts a worker on a fresh topic namespace of the running broker, waits until it answers,
then publishes ``--events`` payroll events one at a time (``--rate`` a second) as the payroll
registry and measures, per event, publish ► receipt readable on
``registry.payroll.receipts.v1`` and publish ► receipt in the database (what
``GET …/events/{event_id}`` reads). Prints p50, p95 and max. Nothing is asserted.

    python bench/receipts.py [--events 60] [--rate 4]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.machine import describe
from contracts.topics import namespaced, registry_receipts_topic, registry_topic
from core.kafka import client_options
from core.settings import Settings
from devtools import broker
from devtools.processes import ServiceProcess
from storage.database import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.receipts import ReceiptRepository

PINFL = "31403850261230"


def event(i: int, tag: str) -> dict[str, object]:
    return {
        "event_id": f"{tag}-{i}",
        "registry": "payroll",
        "schema_version": 1,
        "record_id": f"{tag}-rec-{i}",
        "revision": 1,
        "action": "upsert",
        "occurred_at": "2026-04-05T10:00:00+05:00",
        "pinfl": PINFL,
        "tax_year": 2026,
        "data": {
            "employer_tin": "200000017",
            "month": 1 + i % 12,
            "gross_income_tiyin": 100_000_000 + i,
            "exempt_at_source_tiyin": 0,
            "pit_withheld_tiyin": 12_000_000,
            "inps_offset_tiyin": 100_000,
        },
    }


async def measure(settings: Settings, events: int, rate: float) -> tuple[list[float], list[float]]:
    tag = uuid.uuid4().hex[:6]
    topic = namespaced(registry_topic("payroll"), settings.topic_namespace)
    receipts_topic = namespaced(registry_receipts_topic("payroll"), settings.topic_namespace)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        **client_options(settings, "registry-payroll"),
    )
    consumer = AIOKafkaConsumer(
        receipts_topic,
        bootstrap_servers=settings.bootstrap_servers,
        isolation_level="read_committed",
        auto_offset_reset="latest",
        **client_options(settings, "registry-payroll"),
    )
    database = ReceiptRepository(make_session_factory(make_engine(settings.database)))
    sent: dict[str, float] = {}
    on_kafka: dict[str, float] = {}
    in_database: dict[str, float] = {}
    await producer.start()
    await consumer.start()
    try:
        await consumer.getmany(timeout_ms=1000)  # assigned, at the end

        async def read() -> None:
            while len(on_kafka) < events:
                for messages in (await consumer.getmany(timeout_ms=100)).values():
                    for m in messages:  # a message holds a processed batch's receipts
                        for receipt in json.loads(m.value)["receipts"]:
                            on_kafka.setdefault(receipt["event_id"], time.monotonic())

        async def poll() -> None:
            while len(in_database) < events:
                for event_id in [e for e in sent if e not in in_database]:
                    if await asyncio.to_thread(database.get, "payroll", event_id):
                        in_database[event_id] = time.monotonic()
                await asyncio.sleep(0.05)

        readers = asyncio.gather(read(), poll())
        for i in range(events):
            value = event(i, tag)
            sent[str(value["event_id"])] = time.monotonic()
            await producer.send_and_wait(topic, json.dumps(value).encode(), key=PINFL.encode())
            await asyncio.sleep(1 / rate)
        await asyncio.wait_for(readers, 120)
    finally:
        await consumer.stop()
        await producer.stop()
    return (
        [on_kafka[e] - t for e, t in sent.items()],
        [in_database[e] - t for e, t in sent.items()],
    )


def summary(label: str, seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return (
        f"{label}: p50 {statistics.median(ordered):.2f}s, p95 {p95:.2f}s, "
        f"max {ordered[-1]:.2f}s ({len(ordered)} events)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=60)
    parser.add_argument("--rate", type=float, default=4.0)
    args = parser.parse_args()
    print(describe())
    env = Settings.from_env()
    workdir = Path(tempfile.mkdtemp(prefix="proactax-receipts-"))
    ns = f"rcpt{uuid.uuid4().hex[:6]}"
    settings = dataclasses.replace(
        env,
        topic_namespace=ns,
        app_id=f"proactax-{ns}",
        database_url=f"sqlite:///{workdir / 'r.db'}",
        run_dir=workdir,
        kafka_principal=env.kafka_principal or "admin",
        broker_data_dir=env.broker_data_path,
    )
    started = broker.ensure_broker(settings, topics=None)
    try:
        broker.create_worker_topics(settings)
        upgrade(settings.database)
        worker = ServiceProcess.worker(settings, workdir / "worker.log").start()
        try:
            asyncio.run(measure(settings, 3, 1.0))  # warm: the worker's tasks are open
            kafka, database = asyncio.run(measure(settings, args.events, args.rate))
        finally:
            worker.stop()
    finally:
        if started.launched:  # leave the machine as found (bench/season.py)
            broker.stop(settings)
    print(summary("publish ► receipt on Kafka", kafka))
    print(summary("publish ► receipt in the database (HTTP)", database))


if __name__ == "__main__":
    main()
