"""What SASL_SSL (SCRAM-SHA-512 over TLS) costs against plain text, on the local broker.

For each protocol: a broker of its own (own data dir, the same ports, started and stopped
here), then

1. publish: ``--messages`` registry-sized events (~600 bytes, keyed by PINFL) with the
   mock publisher's producer settings (acks=all, idempotent, linger 20 ms);
2. consume: a bare aiokafka consumer reads them all back from the beginning;
3. connect: a new producer's ``start()`` (TCP, TLS handshake, SCRAM exchange, metadata).

Prints messages/s and MB/s per phase. Nothing is asserted: the figures go to
docs/security.md.

    PROACTAX_BROKER_PORT=... PROACTAX_CONTROLLER_PORT=... python bench/kafka_security.py \
        [--messages 200000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts.topics import registry_topic
from core.kafka import client_options
from core.settings import Settings
from devtools import broker

TOPIC = registry_topic("payroll")


def event(i: int) -> tuple[bytes, bytes]:
    pinfl = f"{30000000000000 + i * 7919 % 10**13:014d}"
    value = {
        "event_id": f"pay-2026-03-{i:09d}-r1",
        "registry": "payroll",
        "schema_version": 1,
        "record_id": f"200000017-{i:09d}-2026-03",
        "revision": 1,
        "action": "upsert",
        "occurred_at": "2026-04-05T10:00:00+05:00",
        "pinfl": pinfl,
        "tax_year": 2026,
        "data": {
            "employer_tin": "200000017",
            "month": 3,
            "gross_income_tiyin": 1_200_000_000,
            "exempt_at_source_tiyin": 0,
            "pit_withheld_tiyin": 142_800_000,
            "inps_offset_tiyin": 1_200_000,
        },
    }
    return pinfl.encode(), json.dumps(value).encode()


async def publish(settings: Settings, messages: list[tuple[bytes, bytes]]) -> float:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=256 * 1024,
        **client_options(settings, "admin"),
    )
    await producer.start()
    try:
        t = time.perf_counter()
        pending = []
        for key, value in messages:
            pending.append(await producer.send(TOPIC, key=key, value=value))
            if len(pending) >= 1000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        return time.perf_counter() - t
    finally:
        await producer.stop()


async def consume(settings: Settings, expected: int) -> float:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_partition_fetch_bytes=4 * 1024 * 1024,
        **client_options(settings, "admin"),
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(TOPIC, p) for p in range(settings.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        t = time.perf_counter()
        seen = 0
        deadline = time.monotonic() + 600
        while seen < expected:
            if time.monotonic() > deadline:
                raise TimeoutError(f"read {seen} of {expected} within 600 s")
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            seen += sum(len(v) for v in batch.values())
        return time.perf_counter() - t
    finally:
        await consumer.stop()


async def connect(settings: Settings, times: int = 5) -> float:
    """Median seconds for a producer's start(): connection, TLS, SASL, metadata."""
    samples = []
    for _ in range(times):
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap_servers, **client_options(settings, "admin")
        )
        t = time.perf_counter()
        await producer.start()
        samples.append(time.perf_counter() - t)
        await producer.stop()
    return statistics.median(samples)


def run(protocol: str, root: Path, messages: int, rounds: int) -> dict[str, float]:
    base = Settings.from_env()
    settings = dataclasses.replace(
        base,
        kafka_security_protocol=protocol,
        broker_data_dir=root / protocol.lower(),
        kafka_credentials_file=None,
        kafka_ca_file=None,
        topic_namespace="",
    )
    handle = broker.start(settings, topics=None)
    print(f"{protocol}: broker {handle.describe_timing()}", flush=True)
    try:
        broker.create_topics(settings)
        data = [event(i) for i in range(messages)]
        size_mb = sum(len(k) + len(v) for k, v in data) / 1e6
        results: dict[str, list[float]] = {"publish": [], "consume": []}
        for r in range(rounds):
            results["publish"].append(messages / asyncio.run(publish(settings, data)))
            total = messages * (r + 1)
            results["consume"].append(total / asyncio.run(consume(settings, total)))
        out = {
            "publish_msg_s": max(results["publish"]),
            "consume_msg_s": max(results["consume"]),
            "connect_s": asyncio.run(connect(settings)),
            "mb": size_mb,
        }
    finally:
        broker.stop(settings)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="proactax-kafka-sec-") as tmp:
        rows = {p: run(p, Path(tmp), args.messages, args.rounds) for p in ("PLAINTEXT", "SASL_SSL")}
    plain, secured = rows["PLAINTEXT"], rows["SASL_SSL"]
    per_msg = plain["mb"] / args.messages
    print(
        f"\n{args.messages:,} messages, {plain['mb']:.0f} MB, best of {args.rounds}; "
        f"{os.cpu_count()} CPUs (shared: figures vary with the load)"
    )
    print(f"{'':10} {'PLAINTEXT':>14} {'SASL_SSL':>14} {'change':>8}")
    for key, label in (("publish_msg_s", "publish/s"), ("consume_msg_s", "consume/s")):
        change = secured[key] / plain[key] - 1
        print(f"{label:10} {plain[key]:>14,.0f} {secured[key]:>14,.0f} {change:>+8.0%}")
        print(f"{'  MB/s':10} {plain[key] * per_msg:>14.1f} {secured[key] * per_msg:>14.1f}")
    plain_ms, secured_ms = plain["connect_s"] * 1000, secured["connect_s"] * 1000
    print(f"{'connect':10} {plain_ms:>12.0f}ms {secured_ms:>12.0f}ms")


if __name__ == "__main__":
    main()
