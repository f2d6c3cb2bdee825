"""Completeness watermarks: ``registry.period_closed.v1`` and the cut-off release a tax year.

A release is one message per ledger partition on ``proactax.year_released.v1``; the
registry agent computes the year's returns in that partition once it has read every
registry event published before the release (the ``wait_for`` end offsets). Releases are
idempotent, so every worker's cut-off timer may send them.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from agents.completeness import decode_period_closed, is_complete, years_past_cutoff
from contracts.deadletters import deadletter_value
from contracts.registry_events import EventRejected
from proactax.clock import TASHKENT, Clock, rfc3339
from proactax.settings import Settings
from streams.topology import Topology

log = logging.getLogger(__name__)

CUTOFF_CHECK_INTERVAL_S = 15.0


def wire(app: Any, topology: Topology, settings: Settings, clock: Clock) -> Any:
    required = settings.completeness_set
    released_here: set[int] = set()  # years this process has sent a cut-off release for

    async def registry_ends() -> dict[tuple[str, int], int]:
        """The end offset of every registry topic partition now: what was published
        before the closure, which the release waits for (agents/ingest_batch.py)."""
        from faust.types import TP  # the worker has faust; keep the import off module load

        topics = [
            name for name in topology.registry_stream.topics if not topology.is_release_topic(name)
        ]
        tps = [TP(topic, p) for topic in topics for p in range(topology.partitions)]
        ends = await app.consumer.highwaters(*tps)
        return {(tp.topic, tp.partition): int(offset) for tp, offset in ends.items()}

    async def send_release(tax_year: int, reason: str) -> None:
        ends = await registry_ends()
        for partition in range(topology.partitions):
            wait_for = {topic: end for (topic, p), end in ends.items() if p == partition}
            value = json.dumps({"tax_year": tax_year, "reason": reason, "wait_for": wait_for})
            await topology.year_released.send(
                key=str(tax_year).encode(), value=value.encode(), partition=partition
            )
        log.info("released tax year %s (%s)", tax_year, reason)

    @app.agent(topology.period_closed, name="period_closed", concurrency=1)
    async def period_closed(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            try:
                value = decode_period_closed(event.value, message.key, settings.tax_years)
            except EventRejected as rejected:
                await topology.deadletter.send(
                    key=message.key,
                    value=deadletter_value(
                        source_topic=message.topic,
                        source_partition=message.partition,
                        source_offset=message.offset,
                        received_at=rfc3339(clock.now()),
                        reason_code=rejected.reason_code,
                        reason=rejected.reason,
                        field=rejected.field,
                        raw=event.value,
                    ),
                )
                continue
            year = value["tax_year"]
            topology.closures[f"{value['registry']}:{year}"] = value["closed_at"]
            closed = {
                registry for registry in required if f"{registry}:{year}" in topology.closures
            }
            if is_complete(closed, required) and f"released:{year}" not in topology.closures:
                topology.closures[f"released:{year}"] = rfc3339(clock.now())
                await send_release(year, "all_registries_closed")

    @app.timer(interval=CUTOFF_CHECK_INTERVAL_S, on_leader=False)
    async def cutoff() -> None:
        today = clock.now().astimezone(TASHKENT).date()
        for year in years_past_cutoff(today, settings.tax_years, settings.completeness_cutoff):
            if year not in released_here:
                released_here.add(year)
                await send_release(year, "cutoff")

    return period_closed
