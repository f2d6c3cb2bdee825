"""The registry path, exactly-once: consume ► process ► produce in Kafka transactions.

The one module where the registry path uses aiokafka directly; the loop runs as a task of
the faust worker (why not faust's own exactly_once mode: docs/decisions/0001 and 0003).

Order of things:
1. One consumer, group ``<app_id>-registry``, ``read_committed``, no auto-commit, the range
   assignor (co-partitioned topics with equal partition counts stay together), subscribed
   to every registry topic, ``proactax.year_released.v1`` and ``registry.period_closed.v1``.
2. A *task* per partition number p (registry topics' p + the release topic's p, the ledger
   and release stores of p, their changelogs' p) and one for the closures (period_closed's
   single partition, the closures store). Each task has its own transactional producer,
   ``transactional_id = <app_id>-registry-<p>`` / ``<app_id>-closures``: whoever opens a task
   fences its previous owner and aborts that owner's open transaction (KIP-98).
3. Opening a task (on assignment): start its producer (the fence) ► restore its stores
   from their changelogs, read_committed, from the local checkpoint to the end ► seek to
   the group's committed offsets (or the log's start).
4. Each ``getmany`` batch is split per task; per task, in one transaction: its returns,
   dead letters (the staff's and the registry's own), receipts, releases, changelog writes,
   then its input offsets (``send_offsets_to_transaction``), commit ► only then the stores
   apply the writes on disk with their new checkpoint (streams/state.py).
5. Any failure: abort, drop the task (its uncommitted overlay with it) and open it again,
   which restores and seeks back to the committed offsets. A fenced task waits for the
   group to settle first. Revocation waits for the batch in flight, then closes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import KafkaError, ProducerFenced

from contracts import topics as contract_topics
from contracts.topics import YEAR_RELEASED
from core.kafka import client_options, group_timing
from core.settings import Settings
from streams import faults
from streams.batch_outputs import TASK_PRODUCER_OPTIONS, BatchOutputs, wire_json
from streams.loop_times import LoopTimes, opening_times
from streams.record_batches import last_offset, send_in_batches
from streams.restore import restore_store
from streams.state import Overlay, StateDir, TableStore, state_root
from streams.state import encode as encode_state
from streams.topology import (
    CLOSURES_TABLE,
    LEDGER_TABLE,
    RELEASES_TABLE,
    changelog_topic,
)

log = logging.getLogger(__name__)

BATCH_SIZE = 10_000  # records a getmany hands the tasks (each batch: one transaction a task)
BATCH_WITHIN_MS = 200
PROGRESS_EVERY_S = 1.0
RETRY_OPEN_S = 1.0
FENCED_WAIT_S = 20.0  # longer than a session timeout: the group rebalances meanwhile
CLOSE_TIMEOUT_S = 10.0
RESTORE_FETCH_WAIT_MS = 50
CLOSURES = -1  # the task key of the closures task
STUCK_AFTER = 5  # failed attempts in a row before a task is logged as stuck

Positions = dict[tuple[str, int], int]  # (topic, partition) -> offset


class Processor(Protocol):
    """What a task runs on a batch (agents/registry_ingest.py adapts the agents)."""

    def process(
        self, records: list[Any], positions: dict[str, int], outputs: BatchOutputs
    ) -> list[tuple[int, str]]:
        """Process the records (each has topic, partition, offset, key, value), advance
        ``positions`` (topic -> next offset) and return the (year, reason) to release."""
        ...

    def has_work(self) -> bool:
        """Run a batch even with no records (a release in progress)."""
        ...


# partition (or CLOSURES), the task's stores by table name ► its processor
ProcessorFactory = Callable[[int, dict[str, Overlay]], Processor]


@dataclasses.dataclass
class Table:
    store: TableStore
    overlay: Overlay
    changelog: str
    partition: int


class Task:
    """One partition number's share of the registry path, or the closures."""

    def __init__(
        self,
        key: int,
        transactional_id: str,
        inputs: list[TopicPartition],
        tables: dict[str, Table],
        producer: AIOKafkaProducer,
    ) -> None:
        self.key = key
        self.transactional_id = transactional_id
        self.inputs = inputs
        self.tables = tables
        self.producer = producer
        self.positions: dict[TopicPartition, int] = {}  # committed: the next offset to read
        self.opened_round = -1
        self.processor: Processor | None = None

    def drop(self) -> None:
        for table in self.tables.values():
            table.overlay.drop()


class RegistryPath:
    """The consumer, the tasks and the transaction of every batch."""

    def __init__(
        self,
        settings: Settings,
        processors: ProcessorFactory,
        on_progress: Callable[[Positions, Positions], Awaitable[None]] | None = None,
    ) -> None:
        self.settings = settings
        self.processors = processors
        self.on_progress = on_progress
        ns = settings.topic_namespace
        self.group_id = f"{settings.app_id}-registry"
        self.registry_topics = [
            contract_topics.namespaced(contract_topics.registry_topic(r), ns)
            for r in contract_topics.REGISTRIES
        ]
        self.release_topic = contract_topics.namespaced(YEAR_RELEASED, ns)
        self.period_closed_topic = contract_topics.namespaced(contract_topics.PERIOD_CLOSED, ns)
        self.returns_topic = contract_topics.namespaced(contract_topics.RETURNS, ns)
        self.deadletter_topic = contract_topics.namespaced(contract_topics.DEADLETTER, ns)
        self.state = StateDir(state_root(settings.run_dir, settings.app_id))
        self.consumer: AIOKafkaConsumer | None = None
        self.releases_producer: AIOKafkaProducer | None = None
        self.tasks: dict[int, Task] = {}
        self.assigned: set[int] = set()  # task keys the group gave us
        self.retry_at: dict[int, float] = {}  # task key -> when to try opening it again
        # task key -> (failed attempts in a row, since when): a stuck partition's alarm
        self.failures: dict[int, tuple[int, float]] = {}
        self.lock = asyncio.Lock()  # a batch in flight, or a rebalance: one at a time
        self.round = 0
        self.log_starts: Positions = {}
        self.last_progress = 0.0
        self.sweep: asyncio.Future[None] | None = None  # the feed-health sweep in flight
        self.times = LoopTimes()

    # -- clients -----------------------------------------------------------------------

    def _client(self) -> dict[str, Any]:
        return {
            "bootstrap_servers": self.settings.bootstrap_servers,
            **client_options(self.settings),
        }

    def _restore_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            isolation_level="read_committed",
            enable_auto_commit=False,
            group_id=None,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            # its last fetch, at the end of the changelog, long-polls this long, and
            # stop() waits for it: the default 500 ms was a task's opening time
            fetch_max_wait_ms=RESTORE_FETCH_WAIT_MS,
            **self._client(),
        )

    async def ends(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        """The end offsets now (read_committed: the last stable offset)."""
        assert self.consumer is not None
        ends: dict[TopicPartition, int] = await self.consumer.end_offsets(tps)
        return ends

    # -- the loop ----------------------------------------------------------------------

    async def run(self) -> None:
        self.consumer = AIOKafkaConsumer(
            group_id=self.group_id,
            isolation_level="read_committed",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            partition_assignment_strategy=(RangePartitionAssignor,),
            **group_timing(),
            max_poll_interval_ms=600_000,
            **self._client(),
        )
        self.consumer.subscribe(
            [*self.registry_topics, self.release_topic, self.period_closed_topic],
            listener=_Listener(self),
        )
        self.releases_producer = AIOKafkaProducer(
            enable_idempotence=True, acks="all", **self._client()
        )
        await self.releases_producer.start()
        await self.consumer.start()
        log.info("registry path started (group %s)", self.group_id)
        try:
            while True:
                opening_started = time.monotonic()
                await self._open_due_tasks()
                self.times.opening += time.monotonic() - opening_started
                self.round += 1
                started_round = self.round
                fetch_started = time.monotonic()
                batch = await self.consumer.getmany(
                    timeout_ms=0 if self._work_in_hand() else BATCH_WITHIN_MS,
                    max_records=BATCH_SIZE,
                )
                batch_started = time.monotonic()
                self.times.fetch_wait += batch_started - fetch_started
                async with self.lock:
                    await self._process(batch, started_round)
                progress_started = time.monotonic()
                self.times.batch(sum(map(len, batch.values())), progress_started - batch_started)
                await self.report_progress()
                self.times.progress += time.monotonic() - progress_started
                self.times = self.times.log_if_due()
        finally:
            await self._shutdown()

    def _work_in_hand(self) -> bool:
        """A task has work without new records (a release in progress): the next round
        takes what has been fetched and does not wait for more: waiting up to 200 ms a
        round left the worker idle between a release's chunks."""
        return any(
            task.processor is not None and task.processor.has_work() for task in self.tasks.values()
        )

    async def _shutdown(self) -> None:
        async with self.lock:
            for key in list(self.tasks):
                await self._close_task(key)
        if self.sweep is not None and not self.sweep.done():
            # bounded: a sweep not written is counted by the next worker's
            await asyncio.wait([self.sweep], timeout=CLOSE_TIMEOUT_S)
            self.sweep.cancel()
        if self.consumer is not None:
            await self.consumer.stop()
        if self.releases_producer is not None:
            await self.releases_producer.stop()
        self.state.release()

    async def _process(self, batch: dict[TopicPartition, list[Any]], started_round: int) -> None:
        by_task: dict[int, list[Any]] = {}
        for tp, records in batch.items():
            key = self._task_key(tp)
            task = self.tasks.get(key)
            if task is None or task.opened_round >= started_round:
                # not open, or (re)opened while these were fetched: read again from its
                # committed position, which the open seeked to
                if task is not None and self.consumer is not None:
                    self.consumer.seek(tp, task.positions[tp])
                continue
            fresh = [r for r in records if r.offset >= task.positions.get(tp, 0)]
            by_task.setdefault(key, []).extend(fresh)
        due = [
            (task, by_task.get(key, []))
            for key, task in list(self.tasks.items())
            if by_task.get(key) or (task.processor is not None and task.processor.has_work())
        ]
        # the tasks' transactions overlap their broker round trips (one task computes
        # while another waits for its commit); each commits or fails on its own
        outcomes = await asyncio.gather(
            *(self._transaction(task, records) for task, records in due), return_exceptions=True
        )
        for (task, _), outcome in zip(due, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                if not isinstance(outcome, Exception):
                    raise outcome
                await self._fail(task, outcome)

    def _task_key(self, tp: TopicPartition) -> int:
        return CLOSURES if tp.topic == self.period_closed_topic else tp.partition

    async def _transaction(self, task: Task, records: list[Any]) -> None:
        records.sort(key=lambda r: (r.topic, r.offset))
        outputs = BatchOutputs(
            self.returns_topic,
            self.deadletter_topic,
            self.settings.topic_namespace,
            max(task.key, 0),  # the closures' task (-1) writes partition 0
        )
        positions = {tp.topic: offset for tp, offset in task.positions.items()}
        assert task.processor is not None
        compute_started = time.monotonic()
        releases = task.processor.process(records, positions, outputs)
        self.times.compute += time.monotonic() - compute_started
        for year, reason in releases:
            await self._release_messages(year, reason, outputs)
        moved = {
            tp: positions[tp.topic]
            for tp in task.inputs
            if positions.get(tp.topic, task.positions[tp]) != task.positions[tp]
        }
        producer = task.producer
        await producer.begin_transaction()
        sends = [
            await producer.send(topic, value, key=key, partition=partition)
            for topic, key, value, partition in outputs.all_messages()
        ]
        # each state write is encoded once: the same bytes go to the changelog and, after
        # the commit, to disk
        encoded: dict[str, list[tuple[bytes, bytes | None]]] = {
            name: [
                (key.encode(), None if value is None else encode_state(value))
                for key, value in table.overlay.writes.items()
            ]
            for name, table in task.tables.items()
        }
        changelog = {
            name: await send_in_batches(producer, table.changelog, table.partition, encoded[name])
            for name, table in task.tables.items()
        }
        await asyncio.gather(*sends, *(b.future for bs in changelog.values() for b in bs))
        if sends:  # a batch with outputs: they are sent, the transaction is open
            faults.hit(self.settings, "before_commit")
        if moved:
            await producer.send_offsets_to_transaction(moved, self.group_id)
        await producer.commit_transaction()
        # committed: now the disk, each store with its next changelog offset
        for name, table in task.tables.items():
            table.overlay.take()
            last = last_offset(changelog[name])
            if last is not None:
                table.store.apply_raw(encoded[name], last + 1)
        task.positions.update(moved)
        self.failures.pop(task.key, None)  # it moves again

    async def _release_messages(self, year: int, reason: str, outputs: BatchOutputs) -> None:
        for partition, key, value in await self.release_messages(year, reason):
            outputs.send(self.release_topic, key, value, partition)

    async def release_messages(self, year: int, reason: str) -> list[tuple[int, bytes, bytes]]:
        """One release per ledger partition, each waiting for the registry topics' end
        offsets of its partition now (what was published before the closure)."""
        partitions = self.settings.partitions
        tps = [TopicPartition(t, p) for t in self.registry_topics for p in range(partitions)]
        ends = await self.ends(tps)
        messages = []
        for partition in range(partitions):
            wait_for = {tp.topic: end for tp, end in ends.items() if tp.partition == partition}
            value = {"tax_year": year, "reason": reason, "wait_for": wait_for}
            messages.append((partition, str(year).encode(), wire_json(value)))
        return messages

    async def send_cutoff_release(self, year: int) -> bool:
        """The cut-off timer's release (idempotent; sent outside any task, and awaited:
        a release that was not acknowledged is tried again at the next tick)."""
        if self.consumer is None or self.releases_producer is None:
            return False
        for partition, key, value in await self.release_messages(year, "cutoff"):
            await self.releases_producer.send_and_wait(
                self.release_topic, value, key=key, partition=partition
            )
        log.info("released tax year %s (cutoff)", year)
        return True

    async def _fail(self, task: Task, exc: Exception) -> None:
        fenced = isinstance(exc, ProducerFenced) or "fenced" in type(exc).__name__.lower()
        fenced = fenced or "InvalidProducerEpoch" in type(exc).__name__
        log.error(
            "task %s: batch failed (%s); aborting and reading again from committed offsets",
            task.transactional_id,
            type(exc).__name__,
            exc_info=not isinstance(exc, KafkaError),
        )
        await self._close_task(task.key, abort=True)
        self.retry_at[task.key] = time.monotonic() + (FENCED_WAIT_S if fenced else RETRY_OPEN_S)
        if not fenced:  # fenced: another worker has it, not a fault of the batch
            self._count_failure(task.key, task.transactional_id, exc)

    def _count_failure(self, key: int, name: str, exc: BaseException) -> None:
        """A task failing again and again without committing is stuck (a bug, not bad
        input): say so louder, once every ``STUCK_AFTER`` attempts, for log alerting."""
        count, since = self.failures.get(key, (0, time.monotonic()))
        self.failures[key] = (count + 1, since)
        if (count + 1) % STUCK_AFTER == 0:
            log.critical(
                "task %s stuck: %d failed attempts in a row over %.0f s (last: %s); its"
                " partition makes no progress until the cause is fixed",
                name,
                count + 1,
                time.monotonic() - since,
                type(exc).__name__,
            )

    # -- opening and closing tasks -----------------------------------------------------

    async def _open_due_tasks(self) -> None:
        """Open the assigned tasks that are not open (nor waiting to retry), together: an
        opening mostly waits for the broker (the fence, the changelogs' offsets), so after
        a rebalance a worker's tasks open in about the time of one, not one after another."""
        if not self._due_tasks():
            return
        async with self.lock:  # a revocation waits for the openings, then closes them
            await asyncio.gather(*(self._open_or_retry(key) for key in self._due_tasks()))

    def _due_tasks(self) -> list[int]:
        now = time.monotonic()
        return [
            key
            for key in sorted(self.assigned)
            if key not in self.tasks and self.retry_at.get(key, 0.0) <= now
        ]

    async def _open_or_retry(self, key: int) -> None:
        try:
            await self._open_task(key)
            self.retry_at.pop(key, None)
        except Exception as exc:
            log.warning("task %s could not be opened; trying again", key, exc_info=True)
            await self._close_task(key)
            self.retry_at[key] = time.monotonic() + RETRY_OPEN_S
            self._count_failure(key, self._transactional_id(key), exc)

    def _inputs(self, key: int) -> list[TopicPartition]:
        if key == CLOSURES:
            return [TopicPartition(self.period_closed_topic, 0)]
        return [TopicPartition(t, key) for t in (*self.registry_topics, self.release_topic)]

    def _transactional_id(self, key: int) -> str:
        app_id = self.settings.app_id
        return f"{app_id}-closures" if key == CLOSURES else f"{app_id}-registry-{key}"

    async def _open_task(self, key: int) -> None:
        assert self.consumer is not None
        app_id = self.settings.app_id
        transactional_id = self._transactional_id(key)
        if key == CLOSURES:
            names, partition = [CLOSURES_TABLE], 0
        else:
            names, partition = [LEDGER_TABLE, RELEASES_TABLE], key
        inputs = self._inputs(key)
        for tp in inputs:
            self.consumer.pause(tp)  # nothing of it is read until the task is ready
        producer = AIOKafkaProducer(
            transactional_id=transactional_id,
            enable_idempotence=True,
            acks="all",
            **TASK_PRODUCER_OPTIONS,
            **self._client(),
        )
        tables = {}
        for name in names:
            store = TableStore(self.state.store_path(name, partition))
            tables[name] = Table(store, Overlay(store), changelog_topic(app_id, name), partition)
        task = Task(key, transactional_id, inputs, tables, producer)
        self.tasks[key] = task
        started = time.monotonic()
        await producer.start()  # init_transactions: fences the previous owner
        fenced = time.monotonic()
        for table in tables.values():
            await self._restore(table)
        restored = time.monotonic()
        committed_or_start = await self._committed_positions(inputs)
        positioned = time.monotonic()
        for tp, offset in committed_or_start.items():
            task.positions[tp] = offset
            self.consumer.seek(tp, offset)
        task.processor = self.processors(key, {n: t.overlay for n, t in tables.items()})
        task.opened_round = self.round
        for tp in inputs:
            self.consumer.resume(tp)
        took = opening_times(started, fenced, restored, positioned)
        log.info("task %s open %s at %s", transactional_id, took, _describe(task.positions))

    async def _committed_positions(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        assert self.consumer is not None
        positions: dict[TopicPartition, int] = {}
        missing = []
        for tp in tps:
            committed = await self.consumer.committed(tp)
            if committed is None:
                missing.append(tp)
            else:
                positions[tp] = int(committed)
        if missing:
            starts = await self.consumer.beginning_offsets(missing)
            positions.update({tp: int(offset) for tp, offset in starts.items()})
        return positions

    async def _restore(self, table: Table) -> None:
        """The changelog partition from the store's checkpoint to its end (read_committed)."""
        await restore_store(
            self.settings,
            table.store,
            TopicPartition(table.changelog, table.partition),
            self._restore_consumer(),
        )

    async def _close_task(self, key: int, abort: bool = False) -> None:
        task = self.tasks.pop(key, None)
        if task is None:
            return
        task.drop()
        if abort:
            try:
                await asyncio.wait_for(task.producer.abort_transaction(), CLOSE_TIMEOUT_S)
            except Exception:
                log.debug("abort of %s failed", task.transactional_id, exc_info=True)
        try:
            await asyncio.wait_for(task.producer.stop(), CLOSE_TIMEOUT_S)
        except Exception:
            log.debug("stop of %s failed", task.transactional_id, exc_info=True)
        for table in task.tables.values():
            table.store.close()

    # -- rebalances --------------------------------------------------------------------

    async def on_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        keys = {self._task_key(tp) for tp in revoked}
        async with self.lock:  # the batch in flight completes (or aborts) first
            for key in keys:
                self.assigned.discard(key)
                await self._close_task(key)

    async def on_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        """Close what this member no longer holds; the new tasks are opened by the loop
        (``_open_due_tasks``), not here: aiokafka sends no heartbeat while this callback
        runs, and opening tasks (producers, restores) can outlast the session timeout on
        a busy machine, which expels the member and starts the rebalance over, forever."""
        keys = {self._task_key(tp) for tp in assigned}
        async with self.lock:
            for key in sorted(self.tasks):
                if key not in keys:
                    await self._close_task(key)
            self.assigned = keys
            assert self.consumer is not None
            for key in sorted(keys):
                self.retry_at.pop(key, None)
                if key not in self.tasks:
                    for tp in self._inputs(key):
                        self.consumer.pause(tp)  # nothing of it is read until it is open

    # -- progress for feed health ------------------------------------------------------

    async def report_progress(self) -> None:
        """The committed input offsets of every registry partition this worker holds,
        and the log's start of each (agents/feed_health.py ``RegistrySweep``).

        The sweep writes to the database, so it runs beside the loop, one at a time: a
        database that is busy or away never holds a batch (awaited here, it held the loop
        9 – 23 % of its time while two workers shared one SQLite file)."""
        now = time.monotonic()
        if self.on_progress is None or now - self.last_progress < PROGRESS_EVERY_S:
            return
        if self.sweep is not None and not self.sweep.done():
            return  # the last one is still writing: its successor counts this too
        self.last_progress = now
        positions = {
            (tp.topic, tp.partition): offset
            for task in self.tasks.values()
            for tp, offset in task.positions.items()
            if tp.topic in self.registry_topics
        }
        unknown = [TopicPartition(*tp) for tp in positions if tp not in self.log_starts]
        if unknown and self.consumer is not None:
            try:
                starts = await self.consumer.beginning_offsets(unknown)
            except KafkaError:
                return
            self.log_starts.update({(tp.topic, tp.partition): o for tp, o in starts.items()})
        starts_known = {tp: self.log_starts[tp] for tp in positions if tp in self.log_starts}
        self.sweep = asyncio.ensure_future(self.on_progress(positions, starts_known))


class _Listener(ConsumerRebalanceListener):
    def __init__(self, path: RegistryPath) -> None:
        self.path = path

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.path.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self.path.on_assigned(assigned)


def _describe(positions: dict[TopicPartition, int]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]@{o}" for tp, o in sorted(positions.items()))
