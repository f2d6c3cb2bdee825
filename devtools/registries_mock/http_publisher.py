"""Publishes a season through the HTTP ingest API (``POST /api/v1/registries/{r}/events``).

Events go in batches per registry, in the season's order within each registry (so that
out-of-order revisions reach the topic as generated); broken bytes go alone, as they
are. The API validates before anything reaches Kafka: every event it refuses comes back
with its ``reason_code`` and field, paired here with the event.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx

from devtools.registries_mock.publisher import Throttle
from devtools.registries_mock.season import Event
from portal.ingest_client import Rejection, post_events


@dataclasses.dataclass
class HttpOutcome:
    accepted: int = 0  # events the API published
    duplicates: int = 0  # events it had published before (same event_id and content)
    rejections: list[tuple[Event, Rejection]] = dataclasses.field(default_factory=list)

    @property
    def handled(self) -> int:
        return self.accepted + self.duplicates + len(self.rejections)


def _body(event: Event) -> Mapping[str, Any] | bytes:
    """A JSON object goes in a batch; anything with its own bytes goes alone, as is."""
    if event.raw is not None or event.value is None:
        return event.payload
    return event.value


async def post_season(
    events: Iterable[Event],
    base_url: str,
    api_keys: Mapping[str, str],
    *,
    batch_size: int = 500,
    rate: float = 0,
    progress: Callable[[int], None] | None = None,
    timeout_s: float = 60.0,
) -> HttpOutcome:
    """Post every event with the registry's API key; return what the API answered."""
    outcome = HttpOutcome()
    buffers: dict[str, list[Event]] = {}
    throttle = Throttle(rate)
    chunk = batch_size if rate <= 0 else max(1, min(batch_size, int(rate // 2)))
    async with httpx.AsyncClient(timeout=timeout_s) as client:

        async def flush(registry: str) -> None:
            batch = buffers.pop(registry, [])
            if not batch:
                return
            key = api_keys.get(registry)
            if key is None:
                raise KeyError(f"no API key for the {registry} registry")
            bodies = [_body(e) for e in batch]
            result = await post_events(
                base_url, registry, key, bodies, batch_size=min(batch_size, 1000), client=client
            )
            outcome.accepted += len(result.accepted)
            outcome.duplicates += len(result.duplicates)
            outcome.rejections += [(batch[r.index], r) for r in result.rejected]
            if progress:
                progress(outcome.handled)
            await throttle.wait(outcome.handled)

        for event in events:
            buffer = buffers.setdefault(event.topic_registry, [])
            buffer.append(event)
            if len(buffer) >= chunk:
                await flush(event.topic_registry)
        for registry in list(buffers):
            await flush(registry)
    return outcome
