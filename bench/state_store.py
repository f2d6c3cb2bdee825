"""The ledger stores' write pattern against RocksDB: the options of ``streams/state.py``
against the same with LZ4 on every level (before the two upper levels went uncompressed)
and, with ``--with-defaults``, against RocksDB's default level sizes and compression
(before the tenth session sized the levels).

A season's registry path reads a resident's ledger, folds an event into it and writes it
back, ≈ 9.5 times a resident, the residents' events spread over the whole backlog. This
does the same through ``streams.state.TableStore`` (get, then one WriteBatch with a
checkpoint per 250 ledgers of a partition): ``--people`` ledgers over ``--partitions``
stores, each folded ``--updates`` times in a shuffled order, a record of ≈ 500 bytes more
each time. Each configuration runs in a process of its own and prints wall seconds, the
CPU seconds of the calling thread (the worker's event loop does these gets and writes)
and of RocksDB's own threads (flushes and compactions), the bytes on disk and the peak
RSS. Nothing is asserted.

    python bench/state_store.py [--people 100000] [--partitions 4] [--updates 9] [--with-defaults]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import rocksdict

from bench.machine import describe, stat_cpu_seconds
from streams import state

BATCH = 250  # ledgers a partition writes per batch (one WriteBatch with its checkpoint)
CONFIGURATIONS = {
    "streams/state.py": "the options the worker opens its stores with",
    "lz4-every-level": "the same with LZ4 on every level: before",
}
DEFAULTS = {"rocksdb-defaults": "RocksDB's default level sizes and compression: long before"}


def rocksdb_defaults(options: rocksdict.Options) -> rocksdict.Options:
    """What ``streams/state.py`` set before it sized the levels: RocksDB's defaults."""
    options.set_compression_type(rocksdict.DBCompressionType.snappy())
    options.set_compression_per_level([])  # Snappy on every level
    options.set_max_bytes_for_level_base(256 * 1024 * 1024)
    options.set_target_file_size_base(64 * 1024 * 1024)
    return options


def options_of(configuration: str) -> rocksdict.Options:
    options = state.store_options()
    if configuration == "lz4-every-level":
        options.set_compression_per_level([])  # the store's LZ4 on every level
    return rocksdb_defaults(options) if configuration == "rocksdb-defaults" else options


def thread_cpu_seconds() -> tuple[float, float]:
    """CPU seconds of the calling thread and of every other thread of this process."""
    me, mine, others = str(threading.get_native_id()), 0.0, 0.0
    for tid in os.listdir("/proc/self/task"):
        seconds = stat_cpu_seconds(Path(f"/proc/self/task/{tid}/stat").read_text())
        if tid == me:
            mine += seconds
        else:
            others += seconds
    return mine, others


def record(rnd: random.Random, n: int) -> dict[str, Any]:
    return {
        "registry": "payroll",
        "record_id": f"rec-{n}",
        "revision": 1,
        "action": "upsert",
        "data": {
            "amount": rnd.randrange(10**10),
            "employer_tin": f"{rnd.randrange(10**9):09d}",
            "period": "2026-03",
            "tax_withheld": rnd.randrange(10**9),
        },
        "event_id": f"payroll-s1-{n:08d}",
        "content_digest": rnd.randbytes(32).hex(),
    }


def run_one(configuration: str, people: int, partitions: int, updates: int) -> str:
    root = Path(tempfile.mkdtemp(prefix="proactax-state-bench-"))
    try:
        stores = [
            state.TableStore(root / f"ledger-{p}", options_of(configuration))
            for p in range(partitions)
        ]
        rnd = random.Random(7)
        order = [k for k in range(people) for _ in range(updates)]
        rnd.shuffle(order)
        pending: list[dict[str, Any]] = [{} for _ in range(partitions)]
        started, (loop0, rocks0) = time.perf_counter(), thread_cpu_seconds()
        for n, resident in enumerate(order):
            p = resident % partitions
            key = f"2026:{resident:014d}"
            ledger = pending[p].get(key) or stores[p].get(key) or {"records": {}, "events": {}}
            new = record(rnd, n)
            ledger["records"][f"payroll/{new['record_id']}"] = new
            ledger["events"][f"payroll:{new['event_id']}"] = new["content_digest"]
            pending[p][key] = ledger
            if len(pending[p]) >= BATCH:
                stores[p].apply(pending[p], n)
                pending[p] = {}
        wall = time.perf_counter() - started
        loop1, rocks1 = thread_cpu_seconds()
        on_disk = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
        for store in stores:
            store.close()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return (
            f"{configuration:18s} {wall:8.1f} {loop1 - loop0:14.1f} {rocks1 - rocks0:13.1f}"
            f" {on_disk / 2**20:10.0f} {peak:13.0f}"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--updates", type=int, default=9)
    parser.add_argument(
        "--with-defaults", action="store_true", help="RocksDB's defaults too (+ ≈ 50 s)"
    )
    parser.add_argument("--one", choices=sorted(CONFIGURATIONS | DEFAULTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(run_one(args.one, args.people, args.partitions, args.updates), flush=True)
        return
    print(describe())
    print(
        f"{args.people:,} ledgers in {args.partitions} stores, each folded {args.updates} times"
        f" in a shuffled order, {BATCH} ledgers a write batch"
    )
    configurations = CONFIGURATIONS | (DEFAULTS if args.with_defaults else {})
    for name, meaning in configurations.items():
        print(f"  {name}: {meaning}")
    print(
        f"{'configuration':18s} {'wall s':>8s} {'loop CPU s':>14s} {'RocksDB CPU s':>13s}"
        f" {'disk MiB':>10s} {'peak RSS MiB':>13s}",
        flush=True,
    )
    for name in configurations:
        command = [sys.executable, __file__, "--one", name, "--people", str(args.people)]
        command += ["--partitions", str(args.partitions), "--updates", str(args.updates)]
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
