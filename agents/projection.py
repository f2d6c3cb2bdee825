"""The projection agent: ``returns.v1`` ► the database, in batches, idempotently."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from proactax.clock import Clock
from storage.returns_repository import ReturnsRepository
from streams.topology import Topology

log = logging.getLogger(__name__)

BATCH_SIZE = 500
BATCH_WITHIN_S = 0.5
RETRY_DELAYS_S = (0.5, 1, 2, 5, 10)


def wire(app: Any, topology: Topology, repository: ReturnsRepository, clock: Clock) -> Any:
    async def save(values: list[dict[str, Any]]) -> None:
        attempt = 0
        while True:
            try:
                await asyncio.to_thread(repository.save_versions, values, clock.now())
                return
            except Exception:  # the database is away: hold the batch, never drop it
                delay = RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)]
                log.warning(
                    "projection: database write failed, retrying in %ss", delay, exc_info=True
                )
                attempt += 1
                await asyncio.sleep(delay)

    @app.agent(topology.returns, name="returns_projection", concurrency=1)
    async def returns_projection(stream: Any) -> None:
        async for batch in stream.take(BATCH_SIZE, within=BATCH_WITHIN_S):
            await save([json.loads(raw) for raw in batch])

    return returns_projection
