"""Rows into SQLite beside a busy event loop: the driver's ``executemany`` against
``storage.multirow_insert`` (a page of rows per statement).

A worker writes its projections from database threads while its event loop computes
returns. ``executemany`` lets go of the GIL around every row's step and then waits for
it again behind the busy thread (a convoy); a page is one step. This writes ``--rows``
receipts in transactions of 2,000, alone and beside one busy Python thread, both ways,
at the worker's switch interval, and prints wall and CPU seconds. Nothing is asserted.

    python bench/multirow_insert.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Table, delete, insert
from sqlalchemy.orm import Session, sessionmaker

from bench.machine import describe
from proactax.worker import GIL_SWITCH_INTERVAL_S
from storage.database import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.multirow_insert import insert_rows
from storage.receipts import IngestReceipt

PER_TRANSACTION = 2_000
# the table, not the class: the class names its registry column ``registry_name``
RECEIPTS = cast(Table, IngestReceipt.__table__)


def receipts(n: int) -> list[dict[str, Any]]:
    return [
        {
            "registry": "payroll",
            "event_id": f"payroll-2026-{i:08d}",
            "record_id": f"record-{i:09d}",
            "revision": 1,
            "status": "accepted",
            "reason_code": None,
            "field": None,
            "reason": None,
            "at": "2027-01-05T10:00:00.123456+00:00",
        }
        for i in range(n)
    ]


def executemany(session: Session, rows: list[dict[str, Any]]) -> None:
    session.execute(insert(RECEIPTS), rows)


def pages(session: Session, rows: list[dict[str, Any]]) -> None:
    insert_rows(session, RECEIPTS, rows)


def measure(
    sessions: sessionmaker[Session],
    write: Callable[[Session, list[dict[str, Any]]], None],
    rows: list[dict[str, Any]],
    busy: bool,
) -> tuple[float, float]:
    """(wall, CPU) seconds of the writing thread."""
    with sessions.begin() as session:
        session.execute(delete(RECEIPTS))
    stop = threading.Event()

    def spin() -> None:  # the event loop, computing returns
        while not stop.is_set():
            sum(range(1_000))

    spinner = threading.Thread(target=spin, daemon=True)
    if busy:
        spinner.start()
    out: dict[str, float] = {}

    def run() -> None:
        wall, cpu = time.perf_counter(), time.thread_time()
        for start in range(0, len(rows), PER_TRANSACTION):
            with sessions.begin() as session:
                write(session, rows[start : start + PER_TRANSACTION])
        out["wall"], out["cpu"] = time.perf_counter() - wall, time.thread_time() - cpu

    writer = threading.Thread(target=run)
    writer.start()
    writer.join()
    stop.set()
    if busy:
        spinner.join()
    return out["wall"], out["cpu"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    print(describe())
    url = f"sqlite:///{tempfile.mkdtemp(prefix='proactax-multirow-')}/bench.db"
    upgrade(url)
    sessions = make_session_factory(make_engine(url))
    rows = receipts(args.rows)
    print(f"{args.rows:,} receipts in transactions of {PER_TRANSACTION:,}, switch interval "
          f"{GIL_SWITCH_INTERVAL_S * 1000:g} ms")  # fmt: skip
    for label, write in (("executemany", executemany), ("pages", pages)):
        for busy in (False, True):
            wall, cpu = measure(sessions, write, rows, busy)
            print(
                f"  {label:<12} {'beside a busy thread' if busy else 'alone':<21} "
                f"wall {wall:6.2f} s   CPU {cpu:5.2f} s ({cpu / args.rows * 1e6:4.1f} µs a row)"
            )


if __name__ == "__main__":
    main()
