"""CPU of the registry processor (agents/ingest_batch.py) over real RocksDB stores, without
a broker: what a worker's event loop spends deciding, folding and computing, apart from
Kafka's fetches, sends and TLS.

Generates a season of ``--people`` residents (the mock of bench/season.py, the same
seed), hands each of ``--partitions`` tasks its messages in batches of ``--batch`` as
streams/transactions.py does, then applies each batch's store writes with their
checkpoint (each value encoded once, as the transaction encodes it for the changelog and
the disk). Once every event is folded the year is released and the release runs chunk by
chunk. Prints the calling thread's CPU seconds of the fold and of the release, and of the
writes within them. Nothing is asserted.

The twelfth session decided with it (docs/benchmarks.md): a ledger kept an entry per
record and per event id folded 30,000 residents in ≈ 10 CPU s where the whole-ledger
layout took ≈ 6.5, and was reverted.

    python bench/registry_fold.py [--people 30000] [--partitions 4] [--batch 2500]
"""

from __future__ import annotations

import argparse
import gc
import resource
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.ingest_batch import Message, RegistryIngest
from bench.machine import describe
from contracts.registry_events import ValidationPolicy
from contracts.topics import YEAR_RELEASED
from core.clock import FixedClock
from core.settings import Settings
from devtools.registries_mock.season import generate_season
from proactax.worker import tune_runtime
from streams.state import Overlay, TableStore, encode
from tax import load_parameters

TAX_YEAR = 2026


class CountedOutputs:
    """The processor's outputs, counted: building them is the processor's work, sending
    them is Kafka's."""

    def __init__(self) -> None:
        self.returns = 0
        self.receipts = 0
        self.dead_letters = 0

    def send_return(self, pinfl: str, value: dict[str, Any]) -> None:
        self.returns += 1

    def send_dead_letter(self, key: bytes | None, value: bytes, registry: str | None) -> None:
        self.dead_letters += 1

    def send_receipt(self, registry: str, event_id: str, value: bytes) -> None:
        self.receipts += 1


class Task:
    """One partition: its processor, its two stores and their overlays."""

    def __init__(self, root: Path, partition: int) -> None:
        self.stores = [
            TableStore(root / f"ledger-{partition}"),
            TableStore(root / f"rel-{partition}"),
        ]
        self.overlays = [Overlay(store) for store in self.stores]
        self.processor = RegistryIngest(
            partition=partition,
            namespace="",
            release_topic=YEAR_RELEASED,
            policy=ValidationPolicy.from_settings(Settings.from_env({})),
            parameters=load_parameters(),
            clock=FixedClock(datetime(2027, 2, 1, tzinfo=UTC)),
            ledgers=self.overlays[0],
            releases=self.overlays[1],
        )
        self.positions: dict[str, int] = {}
        self.batches = 0

    def run(self, messages: list[Message], outputs: CountedOutputs) -> float:
        """One batch and its commit; returns the CPU seconds of the commit's writes."""
        self.processor.process(messages, self.positions, outputs)
        self.batches += 1
        started = time.thread_time()
        for store, overlay in zip(self.stores, self.overlays, strict=True):
            writes = overlay.take()
            encoded = [(k.encode(), None if v is None else encode(v)) for k, v in writes.items()]
            store.apply_raw(encoded, self.batches)
        return time.thread_time() - started

    def close(self) -> None:
        for store in self.stores:
            store.close()


def messages_by_partition(people: int, partitions: int) -> list[list[Message]]:
    season = generate_season(n_people=people, tax_year=TAX_YEAR, seed=1, id_prefix="fold")
    queues: list[list[Message]] = [[] for _ in range(partitions)]
    ends: dict[tuple[str, int], int] = {}
    for event in season.events:
        partition = int(event.key) % partitions if event.key.isdigit() else 0
        topic = f"registry.{event.topic_registry}.v1"
        offset = ends.get((topic, partition), 0)
        ends[(topic, partition)] = offset + 1
        queues[partition].append(
            Message(topic, partition, offset, event.key.encode(), event.payload)
        )
    release = {"tax_year": TAX_YEAR, "reason": "bench", "wait_for": {}}
    for partition, queue in enumerate(queues):
        queue.append(Message(YEAR_RELEASED, partition, 0, b"r", orjson.dumps(release)))
    return queues


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=30_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--batch", type=int, default=2_500, help="messages a task's batch")
    args = parser.parse_args()
    print(describe())
    queues = messages_by_partition(args.people, args.partitions)
    # The worker's interpreter settings, and the season's messages out of the collector's
    # way: a worker holds one batch at a time, not the season (without this the collector
    # walked them all and decoding looked 1.7 times as dear as in the worker).
    tune_runtime()
    gc.freeze()
    events = sum(map(len, queues)) - args.partitions
    root = Path(tempfile.mkdtemp(prefix="proactax-fold-bench-"))
    tasks = [Task(root, p) for p in range(args.partitions)]
    outputs = CountedOutputs()
    try:
        started, fold_writes = time.thread_time(), 0.0
        for start in range(0, max(map(len, queues)), args.batch):
            for task, queue in zip(tasks, queues, strict=True):
                if batch := queue[start : start + args.batch]:
                    fold_writes += task.run(batch, outputs)
        folded, release_writes = time.thread_time(), 0.0
        while any(task.processor.has_work() for task in tasks):
            for task in tasks:
                if task.processor.has_work():
                    release_writes += task.run([], outputs)
        released = time.thread_time()
    finally:
        for task in tasks:
            task.close()
        shutil.rmtree(root, ignore_errors=True)
    fold, release = folded - started, released - folded
    print(
        f"{args.people:,} residents, {events:,} events, {args.partitions} partitions,"
        f" batches of {args.batch:,}: {outputs.receipts:,} receipts,"
        f" {outputs.dead_letters:,} dead letters, {outputs.returns:,} returns"
    )
    print(
        f"fold {fold:.1f} CPU s ({fold / events * 1e6:.1f} µs an event; writes {fold_writes:.1f});"
        f" release {release:.1f} CPU s ({release / max(outputs.returns, 1) * 1e6:.0f} µs a"
        f" return; writes {release_writes:.1f}); peak RSS"
        f" {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB"
    )


if __name__ == "__main__":
    main()
