"""The registry agent: batches of registry events ► ``agents/ingest_batch.py`` ► returns.

Faust-specific glue only: the tables as ``Store``s written to an explicit changelog
partition (a batch mixes partitions, so faust's "partition of the current event" would
be wrong), the producer as ``Outputs``, and the consumer's committed offsets.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from typing import Any

from agents.ingest_batch import Message, RegistryIngest, StallWatch
from contracts.registry_events import ValidationPolicy
from proactax.clock import Clock
from proactax.settings import Settings
from streams.topology import Topology

log = logging.getLogger(__name__)

BATCH_SIZE = 1_000
BATCH_WITHIN_S = 0.2


class ChangelogWrites:
    """Table writes held until the next flush, then sent with ``topic.send`` (straight to
    aiokafka's accumulator) so that ``producer.flush`` really waits for them. faust's own
    ``send_soon`` path goes through a buffer whose flush gives up after 0.1 s of quiet,
    which would make the state-before-outputs barrier of ingest_batch.py a hope."""

    def __init__(self) -> None:
        self.pending: dict[tuple[int, str], tuple[Any, int, str, Any]] = {}

    def add(self, table: Any, partition: int, key: str, value: Any) -> None:
        self.pending[(id(table), key)] = (table, partition, key, value)  # the last one wins

    async def send_all(self) -> None:
        writes, self.pending = list(self.pending.values()), {}
        for table, partition, key, value in writes:
            await table.changelog_topic.send(key=key, value=value, partition=partition)


class TableStore:
    """A faust table read locally and written to a given changelog partition."""

    def __init__(self, table: Any, writes: ChangelogWrites) -> None:
        self.table = table
        self.writes = writes

    def get(self, key: str) -> Any:
        return self.table.data.get(key)

    def put(self, partition: int, key: str, value: Any) -> None:
        self.table.data[key] = value
        # The memory store drops keys of partitions moved elsewhere by this map, which
        # only its changelog recovery fills; keep it true for keys written here too.
        key_partition = getattr(self.table.data, "_key_partition", None)
        if key_partition is not None:
            key_partition[key] = partition
        self.writes.add(self.table, partition, key, value)

    def items(self) -> Iterable[tuple[str, Any]]:
        return list(self.table.data.items())


class ProducerOutputs:
    def __init__(self, app: Any, topology: Topology, writes: ChangelogWrites) -> None:
        self.app = app
        self.topology = topology
        self.writes = writes

    async def send_return(self, pinfl: str, value: dict[str, Any]) -> None:
        await self.topology.returns.send(
            key=pinfl.encode(), value=json.dumps(value, ensure_ascii=False).encode()
        )

    async def send_dead_letter(self, key: bytes | None, value: bytes) -> None:
        await self.topology.deadletter.send(key=key, value=value)

    async def flush(self) -> None:
        await self.writes.send_all()
        await self.app.producer.flush()


SEEK_AGAIN_AFTER_S = 2.0  # a gap still open after a seek: stale prefetched messages


def wire(app: Any, topology: Topology, settings: Settings, clock: Clock, parameters: Any) -> Any:
    last_seek: dict[tuple[str, int], float] = {}

    async def read_again(gaps: dict[tuple[str, int], int]) -> None:
        from faust.types import TP  # the worker has faust; keep the import off module load

        now = time.monotonic()
        for (topic, partition), offset in gaps.items():
            if now - last_seek.get((topic, partition), -SEEK_AGAIN_AFTER_S) >= SEEK_AGAIN_AFTER_S:
                last_seek[(topic, partition)] = now
                await app.consumer.seek(TP(topic, partition), offset)

    writes = ChangelogWrites()
    ingest = RegistryIngest(
        namespace=settings.topic_namespace,
        release_topic=topology.year_released.get_topic_name(),
        policy=ValidationPolicy.from_settings(settings),
        parameters=parameters,
        clock=clock,
        ledgers=TableStore(topology.ledger, writes),
        releases=TableStore(topology.releases, writes),
        positions=TableStore(topology.positions, writes),
        outputs=ProducerOutputs(app, topology, writes),
    )

    stalls = StallWatch()

    @app.timer(interval=SEEK_AGAIN_AFTER_S, on_leader=False)
    async def unstall() -> None:
        """Seek back a partition whose position stays behind the log (see StallWatch)."""
        if app.rebalancing or app.in_recovery:  # positions are not all loaded yet
            return
        try:
            assigned = app.consumer.assignment()
            ends = {(tp.topic, tp.partition): app.consumer.highwater(tp) for tp in assigned}
        except Exception:  # a rebalance began meanwhile: next time
            log.debug("stall check skipped", exc_info=True)
            return
        positions = {tp: ingest.position(*tp) for tp in ends}
        if due := stalls.due(positions, ends):
            log.warning("registry partitions behind the log with no progress: %s", due)
            await read_again(due)

    @app.agent(topology.registry_stream, name="registry_ingest", concurrency=1)
    async def registry_ingest(stream: Any) -> None:
        async for events in stream.take_events(BATCH_SIZE, within=BATCH_WITHIN_S):
            gaps = await ingest.process(
                Message(
                    topic=e.message.topic,
                    partition=e.message.partition,
                    offset=e.message.offset,
                    key=e.message.key,
                    value=e.value,
                )
                for e in events
            )
            if gaps:
                await read_again(gaps)

    return registry_ingest
