"""What a changelog costs the worker's event loop: ``producer.send`` per record against
whole record batches (streams/record_batches.py), in transactions like the registry path's.

A transactional producer writes 100,000 records of 3 KB (a ledger's size) to one partition,
2,500 per transaction, each way twice, on the local broker (started if needed). Prints the
wall and CPU seconds of this process: the client's own work. No assertions; the figures
go to docs/benchmarks.md.

    python bench/record_batches.py [--records 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import resource
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.machine import describe
from core.kafka import client_options
from core.settings import Settings
from devtools import broker
from streams.record_batches import send_in_batches

PER_TRANSACTION = 2_500  # about the ledgers a 10,000-record batch changes in one task


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(settings: Settings, count: int) -> None:
    options = {"bootstrap_servers": settings.bootstrap_servers, **client_options(settings)}
    topic = f"bench-record-batches-{uuid.uuid4().hex[:6]}"
    admin = AIOKafkaAdminClient(**options)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    records = [(f"2026:{i:014d}".encode(), os.urandom(1500).hex().encode()) for i in range(count)]
    for way in ("send", "batches", "send", "batches"):
        producer = AIOKafkaProducer(
            transactional_id=f"{topic}-{way}",
            enable_idempotence=True,
            acks="all",
            max_request_size=4 * 1024 * 1024,
            max_batch_size=1_000_000,  # as streams/transactions.py
            **options,
        )
        await producer.start()
        started, cpu = time.monotonic(), cpu_seconds()
        for i in range(0, count, PER_TRANSACTION):
            chunk = records[i : i + PER_TRANSACTION]
            await producer.begin_transaction()
            if way == "send":
                futures = [await producer.send(topic, v, key=k, partition=0) for k, v in chunk]
            else:
                futures = [b.future for b in await send_in_batches(producer, topic, 0, chunk)]
            await asyncio.gather(*futures)
            await producer.commit_transaction()
        wall, used = time.monotonic() - started, cpu_seconds() - cpu
        print(
            f"{way:8s} {count:,} records of 3 KB: {wall:.2f} s, {used:.2f} CPU s,"
            f" {used / count * 1e6:.1f} CPU µs a record",
            flush=True,
        )
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    print(describe())
    env = Settings.from_env()
    settings = dataclasses.replace(env, kafka_principal=env.kafka_principal or "admin")
    started = broker.ensure_broker(settings, topics=None)
    try:
        asyncio.run(run(settings, args.records))
    finally:
        if started.launched:  # leave the machine as found (bench/season.py)
            broker.stop(settings)


if __name__ == "__main__":
    main()
