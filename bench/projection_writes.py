"""CPU of the database projections' writes, per row, on SQLite: what one worker's database
threads spend beside its event loop.

Writes ``--receipts`` receipts (random event ids, as integrators' are; 3 % of them a
``duplicate`` or ``superseded`` receipt of an earlier event), ``--people`` population
updates (random PINFLs and phones, as the registry's; 5 % a later revision of someone
already written) and ``--returns`` return
versions (real ``returns.v1`` documents of the tax engine's mix, ≈ 10 KB each) through the
repositories, in the batches the projections hand them (with their stream offsets), and
prints the writing thread's CPU and wall seconds per row, then, written again beside a
thread that spins in Python (as the worker's event loop does), the GIL the writes held per
row: the time the spinning thread lost (its count against its count alone). That is what
a projection takes from the event loop; the rest of its CPU runs beside it. Nothing is
asserted.

    python bench/projection_writes.py [--receipts 200000] [--people 50000] [--returns 20000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.projection import BATCH_SIZE, PEOPLE_BATCH_SIZE
from agents.receipts_projection import MESSAGES_PER_WRITE
from agents.returns_builder import return_id
from bench.machine import describe
from bench.tax_engine import taxpayer
from contracts.receipts import RECEIPTS_PER_MESSAGE, receipt_value, receipts_message
from contracts.returns_v1 import to_returns_v1
from devtools.registries_mock.population import REGIONS
from proactax.worker import tune_runtime
from storage.database import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.people import PeopleRepository, PersonUpdate
from storage.receipts import ReceiptRepository
from storage.returns_repository import EncodedReturn, ReturnsRepository
from storage.stream_offsets import Source
from tax import compute_return, facts_from_records, load_parameters

YEAR = 2026
AT = "2027-01-14T10:00:00.123456+00:00"
NOW = dt.datetime(2027, 1, 14, 10, tzinfo=dt.UTC)
RECEIPTS_PER_MESSAGE_IN_SEASON = 220  # ≈ what a task's batch makes in the season
REGISTRIES = ("payroll", "rental", "deduction", "population")


def receipts(n: int, rng: random.Random) -> list[tuple[bytes, int]]:
    """``registry.<registry>.receipts.v1`` messages (and the receipts each holds) as the
    worker writes them, one per registry in turn."""
    values: dict[str, list[bytes]] = {registry: [] for registry in REGISTRIES}
    seen: list[tuple[str, str]] = []
    for i in range(n):
        if seen and rng.random() < 0.03:
            registry, event_id = rng.choice(seen[-5_000:])
            status = rng.choice(["duplicate", "superseded"])
            reason = "Revision 2 replaced this revision." if status == "superseded" else None
            values[registry].append(receipt_value(event_id=event_id, registry=registry,
                record_id="R-1", revision=2, status=status, at=AT, reason=reason))  # fmt: skip
            continue
        registry = REGISTRIES[i % len(REGISTRIES)]
        event_id = f"{registry}-{uuid.UUID(int=rng.getrandbits(128))}"
        seen.append((registry, event_id))
        values[registry].append(receipt_value(event_id=event_id, registry=registry,
            record_id=f"R-{i}", revision=1, status="accepted", at=AT))  # fmt: skip
    messages = []
    size = min(RECEIPTS_PER_MESSAGE_IN_SEASON, RECEIPTS_PER_MESSAGE)
    for held in values.values():
        for start in range(0, len(held), size):
            part = held[start : start + size]
            messages.append((receipts_message(part), len(part)))
    rng.shuffle(messages)
    return messages


def people(n: int, rng: random.Random) -> list[PersonUpdate]:
    """Random PINFLs and phones: sequential ones made every index write an append, which
    hid what a population's random keys cost (a page of each index a person)."""
    updates: list[PersonUpdate] = []
    for i in range(n):
        if updates and rng.random() < 0.05:
            held = rng.choice(updates)
            updates.append(PersonUpdate(held.pinfl, held.revision + 1, held.data))
            continue
        data = {"full_name": f"Person {i}", "birth_date": "1985-03-14", "sex": "M",
                "region_code": rng.choice(REGIONS), "phone": f"+9989{rng.randrange(10**8):08d}",
                "preferred_language": "uz-Latn"}  # fmt: skip
        updates.append(PersonUpdate(str(rng.randrange(10**13, 10**14)), 1, data))
    return updates


def returns(n: int, rng: random.Random) -> list[EncodedReturn]:
    parameters = load_parameters()
    values = []
    for serial in range(n):
        pinfl, records = taxpayer(rng, serial)
        computed = compute_return(facts_from_records(pinfl, YEAR, records), parameters, YEAR)
        value = to_returns_v1(computed, return_id=return_id(pinfl, YEAR), version=1, computed_at=AT)
        values.append(EncodedReturn.decode(orjson.dumps(value)))
    return values


class Spinner:
    """A thread counting in Python, as the worker's event loop computes: what it counts
    less while the writes run is the GIL they held."""

    def __init__(self) -> None:
        self.count = 0
        self.running = True
        self.thread = threading.Thread(target=self._spin, daemon=True)

    def _spin(self) -> None:
        while self.running:
            self.count += 1

    def __enter__(self) -> Spinner:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.running = False
        self.thread.join()


def spin_rate(seconds: float = 2.0) -> float:
    """Counts a second of a spinning thread alone."""
    with Spinner() as spinner:
        time.sleep(seconds)
    return spinner.count / seconds


def measure(
    write: Callable[[Sequence[Any], Source], int], items: Sequence[Any], per_write: int
) -> tuple[float, float, int]:
    """(CPU, wall) seconds of the writing thread and the rows written, batch by batch."""
    cpu = wall = 0.0
    written = 0
    for start in range(0, len(items), per_write):
        batch = items[start : start + per_write]
        positions = [("bench", 0, start + i) for i in range(len(batch))]
        source = Source("bench", positions, {("bench", 0): start + len(batch)})
        began_cpu, began_wall = time.thread_time(), time.perf_counter()
        written += write(batch, source)
        cpu += time.thread_time() - began_cpu
        wall += time.perf_counter() - began_wall
    return cpu, wall, written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receipts", type=int, default=200_000)
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--returns", type=int, default=20_000)
    args = parser.parse_args()
    tune_runtime()  # the worker's GIL switch interval (and collector), as beside its loop
    print(describe())
    rng = random.Random(7)
    directory = Path(tempfile.mkdtemp(prefix="proactax-projection-writes-"))
    cases: list[tuple[str, Callable[[Any], Callable[..., int]], list[Any], int]] = [
        ("receipts", lambda s: lambda b, src: ReceiptRepository(s).record([m for m, _ in b], src),
         receipts(args.receipts, rng), MESSAGES_PER_WRITE),
        ("people", lambda s: lambda b, src: PeopleRepository(s).apply(b, NOW, src),
         people(args.people, rng), PEOPLE_BATCH_SIZE),
        ("returns", lambda s: lambda b, src: ReturnsRepository(s).save_versions(b, NOW, src),
         returns(args.returns, rng), BATCH_SIZE),
    ]  # fmt: skip
    alone = spin_rate()
    for name, repository, items, per_write in cases:
        rows = sum(n for _, n in items) if name == "receipts" else len(items)
        for beside in (False, True):
            url = f"sqlite:///{directory / name}-{beside}.db"  # each on a database of its own
            upgrade(url)
            write = repository(make_session_factory(make_engine(url)))
            if not beside:
                cpu, wall, written = measure(write, items, per_write)
                continue
            with Spinner() as spinner:
                _, spun_wall, _ = measure(write, items, per_write)
            held = spun_wall * max(0.0, 1 - spinner.count / spun_wall / alone)
        size = (
            f", documents of {sum(len(v.raw) for v in items) / len(items) / 1024:.1f} KB"
            if name == "returns"
            else ""
        )
        print(
            f"  {name:<9} {rows:>9,} rows in writes of {per_write:,} "
            f"{'messages' if name == 'receipts' else 'rows'}: CPU {cpu:6.2f} s "
            f"({cpu / rows * 1e6:5.1f} µs a row), wall {wall:6.2f} s, {written:,} rows "
            f"written{size}; beside a spinning thread: GIL held {held:5.2f} s "
            f"({held / rows * 1e6:5.1f} µs a row)"
        )


if __name__ == "__main__":
    main()
