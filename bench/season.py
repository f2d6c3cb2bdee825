"""A whole tax season through the real pipeline, against the limit Python on Kafka sets.

1. Publishes a synthetic season (``--people`` residents, default 100,000) to the real
   broker and closes the year.
2. Baseline: a bare aiokafka consumer reads and JSON-decodes the same registry topics.
3. One worker process reads the backlog: registry events ► ledger ► returns ► database
   projection. Events/s, returns/s, peak RSS, table size.
4. Steady state once the year is released: corrections at a fixed rate; latency from a
   record's publish to its return version in the database (p50/p95/p99).
5. Two worker processes: a fresh consumer group and database, and the season published
   again to topics of their own (a shared ``returns.v1`` would hand them the returns the
   one-worker run computed).

Prints a table and the machine. Nothing is asserted: the figures go to
docs/benchmarks.md.

    python bench/season.py [--people 100000] [--workers 1,2] [--rate 200] [--profile]
                           [--postgres postgresql://user:password@host:5432/postgres]

``--profile`` samples every worker with py-spy (bench/profile.py) and prints each one's
main-thread idle share and top functions: the profiles behind docs/benchmarks.md.
``--postgres`` gives each run a fresh database on that server (created and dropped by the
bench) instead of a SQLite file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import re
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import func, select, text

from bench.machine import describe, stat_cpu_seconds
from bench.profile import Sampler
from contracts.topics import REGISTRIES, namespaced, registry_receipts_topic, registry_topic
from core.kafka import client_options
from core.settings import Settings
from devtools import broker
from devtools.broker.install import BrokerPaths
from devtools.broker.launcher import read_pid
from devtools.processes import ServiceProcess
from devtools.registries_mock.publisher import close_year, publish
from devtools.registries_mock.season import Event, Season, generate_season
from storage.database import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.models import ReturnVersion
from storage.stream_offsets import StreamOffset
from tests.support.postgres import fresh_database  # a database of its own per run

TAX_YEAR = 2026


@dataclasses.dataclass
class Run:
    label: str
    seconds: float
    events: int
    returns: int
    peak_rss_mib: list[float]
    cpu_s: list[float] = dataclasses.field(default_factory=list)
    table_mib: float = 0.0
    bytes_per_resident: float = 0.0
    largest: list[str] = dataclasses.field(default_factory=list)
    receipts_after_s: float = 0.0  # the last receipt in the database, after the last return
    broker_cpu_s: float = 0.0  # the broker's CPU seconds over the same backlog

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds

    @property
    def returns_per_s(self) -> float:
        return self.returns / self.seconds


def peak_rss_mib(pid: int) -> float:
    """VmHWM: the resident set's high-water mark of a live process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def rss_mib(pid: int) -> float:
    """VmRSS: the resident set now."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (and its waited-for children): on a
    machine other work shares, events per CPU second still reads as "per core"."""
    return stat_cpu_seconds(Path(f"/proc/{pid}/stat").read_text(), children=True)


def broker_cpu_seconds(settings: Settings) -> float:
    """CPU seconds the local broker's JVM has used so far (0 when it is not ours)."""
    pid = read_pid(BrokerPaths.of(settings).pid_file)
    try:
        return cpu_seconds(pid) if pid is not None else 0.0
    except OSError:
        return 0.0


def database_bytes(db: Path, residents: int, top: int = 5) -> tuple[float, list[str]]:
    """Bytes per resident of a SQLite file (after a WAL checkpoint, every table and index),
    and its ``top`` largest tables and indexes (SQLite's dbstat)."""
    with contextlib.closing(sqlite3.connect(db)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = db.stat().st_size
        try:
            rows = connection.execute(
                "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT ?",
                (top,),
            ).fetchall()
        except sqlite3.OperationalError:  # a SQLite built without dbstat
            rows = []
    return size / residents, [f"{name} {n / residents:,.0f} B" for name, n in rows]


def postgres_bytes(url: str, residents: int, top: int = 5) -> tuple[float, list[str]]:
    """Bytes per resident of a PostgreSQL database (every table with its indexes and
    TOAST), and its ``top`` largest tables."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            size = connection.scalar(text("SELECT pg_database_size(current_database())"))
            rows = connection.execute(
                text(
                    "SELECT relname, pg_total_relation_size(oid) FROM pg_class "
                    "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace "
                    "ORDER BY 2 DESC LIMIT :top"
                ),
                {"top": top},
            ).all()
    finally:
        engine.dispose()
    return int(size or 0) / residents, [f"{name} {n / residents:,.0f} B" for name, n in rows]


def registry_topics(namespace: str) -> list[str]:
    return [namespaced(registry_topic(r), namespace) for r in REGISTRIES]


async def bare_consumer(settings: Settings, expected: int) -> float:
    """Seconds for a bare aiokafka consumer to read and JSON-decode ``expected`` events."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        **client_options(settings),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        tps = [
            TopicPartition(t, p)
            for t in registry_topics(settings.topic_namespace)
            for p in range(settings.partitions)
        ]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        started, seen = time.perf_counter(), 0
        while seen < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batches.values():
                for record in records:
                    try:
                        json.loads(record.value)
                    except ValueError:
                        pass
                    seen += 1
        return time.perf_counter() - started
    finally:
        await consumer.stop()


async def last_receipts(settings: Settings) -> dict[tuple[str, int], int]:
    """The offset after the last receipt of every partition of the run's receipts topics
    (read_committed): what the receipts projection has stored once it wrote them all. Not
    the end offset: a commit marker of every producer that wrote there follows its
    records (partition 0 has the closures' task's too)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        **client_options(settings),
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        tps = [
            TopicPartition(namespaced(registry_receipts_topic(r), settings.topic_namespace), p)
            for r in REGISTRIES
            for p in range(settings.partitions)
        ]
        ends = await consumer.end_offsets(tps)
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, max(ends[tp] - MARKERS_WINDOW, 0))
        last = {(tp.topic, tp.partition): 0 for tp in tps}
        reading = [tp for tp in tps if ends[tp] > 0]
        while reading:
            for tp, records in (await consumer.getmany(*reading, timeout_ms=1000)).items():
                if records:
                    last[(tp.topic, tp.partition)] = records[-1].offset + 1
            reading = [tp for tp in reading if await consumer.position(tp) < ends[tp]]
        return last
    finally:
        await consumer.stop()


MARKERS_WINDOW = 64  # offsets back from the end: more than the markers after the last receipt


class Pipeline:
    """Worker processes of one consumer group writing to one database."""

    def __init__(
        self,
        base: Settings,
        label: str,
        workdir: Path,
        lifecycle: bool,
        database_url: str | None = None,
    ) -> None:
        app = f"proactax-bench-{uuid.uuid4().hex[:8]}"
        db = workdir / f"{label}.db"
        self.settings = dataclasses.replace(
            base,
            app_id=app,
            database_url=database_url or f"sqlite:///{db}",
            run_dir=workdir / label,
            # the broker's data (credentials, CA) stays where the launcher put it
            broker_data_dir=base.broker_data_path,
            worker_lifecycle=lifecycle,
        )
        self.db = db if database_url is None else None
        self.label = label
        self.workdir = workdir
        upgrade(self.settings.database)
        broker.create_worker_topics(self.settings)
        self.sessions = make_session_factory(make_engine(self.settings.database))
        self.workers: list[ServiceProcess] = []

    def start(self, n: int) -> None:
        for i in range(n):
            self.workers.append(
                ServiceProcess.worker(
                    self.settings, self.workdir / f"{self.label}-worker-{i}.log"
                ).start()
            )

    def release_computed_at(self, tax_year: int) -> float | None:
        """When the last partition finished computing ``tax_year``'s release (the workers'
        log line, local time, as epoch seconds); None if no worker logged it."""
        pattern = re.compile(
            rf"^\[(\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{{3}})\].*"
            rf"tax year {tax_year} computed on partition"
        )
        found: list[float] = []
        for i in range(len(self.workers)):
            log = self.workdir / f"{self.label}-worker-{i}.log"
            for line in log.read_text(errors="replace").splitlines() if log.exists() else ():
                if match := pattern.match(line):
                    day = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S")
                    found.append(day.timestamp() + int(match[2]) / 1000)
        return max(found, default=None)

    def taxpayers_with_returns(self) -> int:
        with self.sessions() as session:
            return int(session.scalar(select(func.count(func.distinct(ReturnVersion.pinfl)))) or 0)

    def latest_versions(self) -> dict[str, tuple[int, Any]]:
        with self.sessions() as session:
            rows = session.execute(
                select(
                    ReturnVersion.pinfl,
                    func.max(ReturnVersion.version),
                    func.max(ReturnVersion.projected_at),
                ).group_by(ReturnVersion.pinfl)
            ).all()
        return {pinfl: (version, at) for pinfl, version, at in rows}

    def wait_for_returns(self, expected: int, timeout_s: float) -> float:
        started = time.monotonic()
        last_print = 0.0
        while True:
            for worker in self.workers:
                if not worker.alive():
                    raise SystemExit(f"a worker died:\n{worker.log_tail()}")
            done = self.taxpayers_with_returns()
            now = time.monotonic()
            if done >= expected:
                return now - started
            if now - started > timeout_s:
                raise SystemExit(f"{self.label}: {done}/{expected} returns after {timeout_s}s")
            if now - last_print > 15:
                rss = "/".join(f"{r:.0f}" for r in self.rss())
                cpu = "/".join(f"{c:.0f}" for c in self.cpu())
                print(
                    f"  {self.label}: {done:,}/{expected:,} returns after {now - started:.0f}s"
                    f" (RSS {rss} MiB, peak {'/'.join(f'{r:.0f}' for r in self.peak_rss())},"
                    f" CPU {cpu}s)",
                    flush=True,
                )
                last_print = now
            time.sleep(1.0)

    def wait_for_receipts(self, timeout_s: float) -> float:
        """Seconds until the receipts projection has written every receipt on Kafka now
        (its stored offsets pass each partition's last receipt)."""
        started = time.monotonic()
        last = asyncio.run(last_receipts(self.settings))
        while True:
            with self.sessions() as session:
                stored = {
                    (row.topic, row.partition): row.next_offset
                    for row in session.scalars(
                        select(StreamOffset).where(StreamOffset.consumer == "receipts")
                    )
                }
            behind = [tp for tp, offset in last.items() if stored.get(tp, 0) < offset]
            now = time.monotonic()
            if not behind:
                return now - started
            if now - started > timeout_s:
                raise SystemExit(f"{self.label}: receipts behind on {len(behind)} partitions")
            time.sleep(0.5)

    def cpu(self) -> list[float]:
        return [cpu_seconds(w.process.pid) for w in self.workers if w.process is not None]

    def rss(self) -> list[float]:
        return [rss_mib(w.process.pid) for w in self.workers if w.process is not None]

    def peak_rss(self) -> list[float]:
        return [peak_rss_mib(w.process.pid) for w in self.workers if w.process is not None]

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()


SHARD_PEOPLE = 100_000  # residents generated at a time: a season is held in memory whole


@dataclasses.dataclass
class Published:
    """What a sharded publish leaves: counts, and the first shard for the corrections."""

    events: int
    taxpayers: set[str]
    first: Season


def shards(people: int, size: int = SHARD_PEOPLE) -> list[tuple[int, int]]:
    """(seed, residents) of each shard: a million residents are ten seasons of 100,000
    (each ≈ 1.5 GB while it is generated and sent), not one of ≈ 15 GB."""
    return [(1 + i, min(size, people - start)) for i, start in enumerate(range(0, people, size))]


def publish_season(
    people: int, settings: Settings, size: int, first: Season | None = None
) -> Published:
    """Generate and publish the season shard by shard, then close the year. The same
    seeds give the same events for every run; PINFLs of different shards may meet (the
    two residents are then one taxpayer), so taxpayers are counted as a set."""
    namespace = settings.topic_namespace
    events, taxpayers = 0, set[str]()
    kept = first
    for seed, n in shards(people, size):
        season = (
            kept
            if kept is not None and seed == 1
            else generate_season(
                n_people=n, tax_year=TAX_YEAR, seed=seed, id_prefix=f"{namespace}s{seed}"
            )
        )
        kept = kept or season
        taxpayers.update(pinfl for pinfl, _ in season.expected_facts)
        events += asyncio.run(publish(season.events, settings, namespace))
        if people > size:
            print(f"  shard {seed}: {events:,} events published")
    asyncio.run(close_year(TAX_YEAR, settings, namespace))
    assert kept is not None
    return Published(events, taxpayers, kept)


def corrections(season: Season, n: int, prefix: str) -> list[Event]:
    """A higher revision of one payroll record for ``n`` taxpayers: +1,000 soums gross."""
    picked: dict[str, Event] = {}
    for event in season.events:
        if (
            event.topic_registry == "payroll"
            and event.fault is None
            and event.value is not None
            and event.value.get("action") == "upsert"
            and event.key not in picked
        ):
            picked[event.key] = event
            if len(picked) >= n:
                break
    out = []
    for event in picked.values():
        assert event.value is not None
        value = dict(event.value)
        value["event_id"] = f"{prefix}-{value['event_id']}"
        value["revision"] = value["revision"] + 100
        data = dict(value["data"])
        data["gross_income_tiyin"] += 100_000
        value["data"] = data
        out.append(Event("payroll", event.key, value))
    return out


async def steady_latency(
    pipeline: Pipeline, season: Season, rate: float, seconds: float
) -> tuple[list[float], int]:
    """Publish corrections at ``rate``/s; per taxpayer, publish time ► projected_at."""
    events = corrections(season, int(rate * seconds), f"fix{uuid.uuid4().hex[:6]}")
    before = pipeline.latest_versions()
    published_at: dict[str, float] = {}
    chunk = max(1, int(rate / 10))
    started = time.time()
    for i in range(0, len(events), chunk):
        batch = events[i : i + chunk]
        await publish(batch, pipeline.settings, pipeline.settings.topic_namespace)
        now = time.time()
        for e in batch:
            published_at[e.key] = now
        ahead = started + (i + len(batch)) / rate - time.time()
        if ahead > 0:
            await asyncio.sleep(ahead)
    deadline = time.monotonic() + 120
    while True:
        after = pipeline.latest_versions()
        moved = [p for p in published_at if after.get(p, (0,))[0] > before.get(p, (0,))[0]]
        if len(moved) == len(published_at) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    latencies = []
    for pinfl in moved:
        projected = after[pinfl][1]
        latencies.append(projected.timestamp() - published_at[pinfl])
    return latencies, len(published_at) - len(moved)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--workers", default="1,2", help="worker counts to run, e.g. 1,2")
    parser.add_argument("--rate", type=float, default=100, help="corrections/s, steady state")
    parser.add_argument("--seconds", type=float, default=30, help="steady-state duration")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument(
        "--shard", type=int, default=SHARD_PEOPLE, help="residents generated at a time"
    )
    parser.add_argument("--keep", action="store_true", help="keep worker logs and databases")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the one-worker run with py-spy and print where its time goes",
    )
    parser.add_argument(
        "--postgres",
        metavar="ADMIN_URL",
        help="a PostgreSQL server (a URL that may create databases) for the runs' "
        "databases, instead of SQLite files",
    )
    parser.add_argument(
        "--with-lifecycle",
        action="store_true",
        help="run the return lifecycle in the workers too (off: the measured chain is "
        "registry events ► ledger ► returns ► projection)",
    )
    args = parser.parse_args()
    print(describe())

    env = Settings.from_env()
    base = dataclasses.replace(
        env,
        topic_namespace=f"bench{uuid.uuid4().hex[:6]}",
        # the bench's own clients (publishing, the baseline reader) act as the launcher's
        # admin; the worker processes it starts log in as "worker"
        kafka_principal=env.kafka_principal or "admin",
    )
    started = broker.ensure_broker(base, topics=None)
    broker.create_worker_topics(base)
    print(f"broker {base.bootstrap_servers}, {base.partitions} partitions per topic")
    print(f"lifecycle in the workers: {'yes' if args.with_lifecycle else 'no'}")

    t = time.perf_counter()
    published = publish_season(args.people, base, args.shard)
    season, sent, with_income = published.first, published.events, len(published.taxpayers)
    publish_s = time.perf_counter() - t
    print(
        f"season: {args.people:,} residents, {with_income:,} with income, {sent:,} events "
        f"generated and published in {publish_s:.0f}s ({sent / publish_s:,.0f}/s)"
    )

    baseline_s = asyncio.run(bare_consumer(base, sent))
    baseline = sent / baseline_s
    print(f"bare aiokafka consumer + json.loads: {baseline:,.0f} events/s")

    runs: list[Run] = []
    reports: list[str] = []
    latencies: list[float] = []
    missed = 0
    tmp = tempfile.mkdtemp(prefix="proactax-bench-")
    stack = contextlib.ExitStack()  # the runs' PostgreSQL databases, dropped at the end
    try:
        for i, n in enumerate(int(x) for x in args.workers.split(",")):
            topics = base
            if i > 0:
                # Every run gets topics of its own: over shared ones a later run's
                # projection would also read the returns the earlier run computed and
                # count them as its own (its first figures were inflated so: 1.97x).
                topics = dataclasses.replace(base, topic_namespace=f"bench{uuid.uuid4().hex[:6]}")
                broker.create_worker_topics(topics)
                t = time.perf_counter()
                publish_season(args.people, topics, args.shard, first=season)
                print(
                    f"published the season again for {n} workers ({time.perf_counter() - t:.0f}s)"
                )
            database = stack.enter_context(
                fresh_database(args.postgres) if args.postgres else contextlib.nullcontext(None)
            )
            pipeline = Pipeline(topics, f"{n}-worker", Path(tmp), args.with_lifecycle, database)
            broker_cpu_before = broker_cpu_seconds(base)
            pipeline.start(n)
            samplers = [
                (f"{n}-worker run, worker {k}", Sampler(w.process.pid, Path(tmp) / f"{n}{k}.spy"))
                for k, w in enumerate(pipeline.workers)
                if args.profile and w.process is not None
            ]
            for _, sampler in samplers:
                sampler.start()
            try:
                seconds = pipeline.wait_for_returns(with_income, args.timeout)
                computed_at = pipeline.release_computed_at(TAX_YEAR)
                if computed_at is not None:  # what the returns projection had left to write
                    print(
                        f"  {pipeline.label}: the last return reached the database"
                        f" {time.time() - computed_at:.1f}s after the release was computed",
                        flush=True,
                    )
                for label, sampler in samplers:
                    profile = sampler.stop()
                    if profile is not None:
                        reports.append(f"{label}: {profile.report()}")
                run = Run(
                    f"{n} worker(s)",
                    seconds,
                    sent,
                    with_income,
                    pipeline.peak_rss(),
                    pipeline.cpu(),
                )
                # the steady state starts with no backlog: the receipts projection (the
                # same database) may still be writing the season's receipts
                run.receipts_after_s = pipeline.wait_for_receipts(args.timeout)
                run.cpu_s = pipeline.cpu()  # the whole backlog's work, its receipts included
                run.broker_cpu_s = broker_cpu_seconds(base) - broker_cpu_before
                if database is None:
                    assert pipeline.db is not None
                    run.bytes_per_resident, run.largest = database_bytes(pipeline.db, args.people)
                    run.table_mib = pipeline.db.stat().st_size / 2**20
                else:
                    run.bytes_per_resident, run.largest = postgres_bytes(database, args.people)
                    run.table_mib = run.bytes_per_resident * args.people / 2**20
                runs.append(run)
                print(
                    f"{run.label}: {run.seconds:.0f}s, {run.events_per_s:,.0f} events/s, "
                    f"{run.returns_per_s:,.0f} returns/s, worker CPU "
                    f"{'/'.join(f'{c:.0f}' for c in run.cpu_s)}s, broker CPU "
                    f"{run.broker_cpu_s:.0f}s; every receipt in the "
                    f"database {run.receipts_after_s:.0f}s after the last return"
                )
                if n == 1:
                    latencies, missed = asyncio.run(
                        steady_latency(pipeline, season, args.rate, args.seconds)
                    )
                    run.peak_rss_mib = pipeline.peak_rss()
            finally:
                pipeline.stop()
    finally:
        if args.keep:
            print(f"kept {tmp} (worker logs, databases)")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
            stack.close()
        if started.launched:  # leave the machine as found: `make run` after `make bench`
            broker.stop(base)  # met this broker on its port and left it running

    print()
    print(describe())
    print(
        f"season: {args.people:,} residents ({with_income:,} with income), "
        f"{sent:,} events, {base.partitions} partitions; generated and published at "
        f"{sent / publish_s:,.0f}/s; "
        f"lifecycle in the workers: {'yes' if args.with_lifecycle else 'no'}"
    )
    print(
        f"{'pipeline':<14}{'seconds':>9}{'events/s':>10}{'returns/s':>11}"
        f"{'of bare':>9}{'peak RSS MiB':>16}{'DB MiB':>12}{'events/CPU s':>14}"
        f"{'receipts +s':>13}"
    )
    print(f"{'bare consumer':<14}{baseline_s:>9.0f}{baseline:>10,.0f}{'':>11}{'100%':>9}")
    for run in runs:
        rss = "/".join(f"{r:.0f}" for r in run.peak_rss_mib)
        print(
            f"{run.label:<14}{run.seconds:>9.0f}{run.events_per_s:>10,.0f}"
            f"{run.returns_per_s:>11,.0f}{run.events_per_s / baseline:>9.0%}"
            f"{rss:>16}{run.table_mib:>12.0f}{run.events / max(sum(run.cpu_s), 1e-9):>14,.0f}"
            f"{run.receipts_after_s:>13.0f}"
        )
    if len(runs) >= 2:
        print(f"two workers / one worker: {runs[0].seconds / runs[1].seconds:.2f}x")
    if runs:
        per_100k = runs[0].table_mib * 100_000 / args.people
        print(
            f"database per 100,000 residents: {per_100k:.0f} MiB "
            f"({'PostgreSQL' if args.postgres else 'SQLite file'}, all tables)"
        )
        print(
            f"database bytes per resident: {runs[0].bytes_per_resident:,.0f} "
            f"(target <= 4,096; at the end of the backlog; largest: {', '.join(runs[0].largest)})"
        )
    for report in reports:
        print(report)
    if latencies:
        print(
            f"steady state, {args.rate:.0f} corrections/s for {args.seconds:.0f}s, 1 worker: "
            f"publish ► return version in the database p50 {percentile(latencies, 50):.2f}s, "
            f"p95 {percentile(latencies, 95):.2f}s, p99 {percentile(latencies, 99):.2f}s, "
            f"max {max(latencies):.2f}s ({len(latencies)} corrections, {missed} not seen)"
        )


if __name__ == "__main__":
    main()
