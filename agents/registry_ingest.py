"""The registry path in the worker: streams/transactions.py runs it exactly-once, as a task
of the faust worker; this module hands each of its tasks the agent that processes it
(``RegistryIngest`` for a partition, ``Closures`` for the period_closed topic) and
starts the cut-off timer of agents/period_closed.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from agents import period_closed
from agents.ingest_batch import Outputs, RegistryIngest
from agents.period_closed import Closures
from contracts.registry_events import ValidationPolicy
from contracts.topics import YEAR_RELEASED, namespaced
from core.clock import Clock
from core.settings import Settings
from streams.topology import CLOSURES_TABLE, LEDGER_TABLE, RELEASES_TABLE
from streams.transactions import CLOSURES, Positions, Processor, RegistryPath

log = logging.getLogger(__name__)

RESTART_AFTER_S = 2.0


class _Partition:
    def __init__(self, ingest: RegistryIngest) -> None:
        self.ingest = ingest

    def process(
        self, records: list[Any], positions: dict[str, int], outputs: Outputs
    ) -> list[tuple[int, str]]:
        self.ingest.process(records, positions, outputs)
        return []

    def has_work(self) -> bool:
        return self.ingest.has_work()


class _Closures:
    def __init__(self, closures: Closures) -> None:
        self.closures = closures

    def process(
        self, records: list[Any], positions: dict[str, int], outputs: Outputs
    ) -> list[tuple[int, str]]:
        for record in records:
            positions[record.topic] = record.offset + 1
        return self.closures.process(records, outputs)

    def has_work(self) -> bool:
        return False


def wire(
    app: Any,
    settings: Settings,
    clock: Clock,
    parameters: Any,
    on_progress: Callable[[Positions, Positions], Awaitable[None]] | None = None,
) -> RegistryPath:
    """``on_progress`` gets, about every second, the committed input offset of every
    registry partition this worker holds and the log's start of each (the feed health
    counter of agents/feed_health.py counts events from them, off the batch path)."""
    policy = ValidationPolicy.from_settings(settings)
    namespace = settings.topic_namespace
    release_topic = namespaced(YEAR_RELEASED, namespace)

    def processor(key: int, stores: dict[str, Any]) -> Processor:
        if key == CLOSURES:
            return _Closures(
                Closures(
                    store=stores[CLOSURES_TABLE],
                    required=settings.completeness_set,
                    tax_years=settings.tax_years,
                    clock=clock,
                )
            )
        return _Partition(
            RegistryIngest(
                partition=key,
                namespace=namespace,
                release_topic=release_topic,
                policy=policy,
                parameters=parameters,
                clock=clock,
                ledgers=stores[LEDGER_TABLE],
                releases=stores[RELEASES_TABLE],
            )
        )

    path = RegistryPath(settings, processor, on_progress)

    @app.task(on_leader=False)
    async def registry_path() -> None:
        while True:
            try:
                await path.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("registry path stopped; starting it again")
                await asyncio.sleep(RESTART_AFTER_S)

    period_closed.wire(app, settings, clock, path)
    return path
