"""The year close over HTTP: ``registry.period_closed.v1`` for a registry that only has HTTP.

Validated exactly as the stream validates it (``contracts.period_closed.decode_period_closed``:
the schema file, the accepted tax years, the key = the registry), published with the
registry name as key once the broker acknowledges it.

A second close of a year already closed is not published again: it is answered "already
closed" with the first close's ``event_id`` and ``closed_at`` (a retry is safe). A year
counts as closed when this API published its close, or when the feed-health projection
has seen one on the topic (a close published straight to Kafka).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

from contracts.period_closed import decode_period_closed
from contracts.registry_events import EventRejected
from contracts.topics import PERIOD_CLOSED, namespaced
from core.clock import Clock
from portal.kafka import OutgoingMessage
from portal.services.ingest import ConcurrentClaim, EventError, Publisher, event_id_of
from storage.api_keys import AcceptedEventRepository

MAX_CLOSE_BYTES = 4096


@dataclasses.dataclass(frozen=True, slots=True)
class CloseResult:
    status: str  # "closed" (published now) | "already_closed" (nothing published)
    registry: str
    tax_year: int
    event_id: str | None  # None: closed on Kafka, seen by the feed-health projection only
    closed_at: str


class CloseRejected(Exception):
    def __init__(self, error: EventError) -> None:
        super().__init__(error.reason)
        self.error = error


class YearCloseService:
    def __init__(
        self,
        accepted: AcceptedEventRepository,
        publisher: Publisher,
        clock: Clock,
        tax_years: range,
        closed_elsewhere: Callable[[str, int], tuple[str | None, str] | None],
        topic_namespace: str = "",
    ) -> None:
        self._accepted = accepted
        self._publisher = publisher
        self._clock = clock
        self._tax_years = tax_years
        self._closed_elsewhere = closed_elsewhere
        self._namespace = topic_namespace

    def validate(self, registry: str, body: bytes) -> dict[str, Any]:
        """The close as the stream decodes it, or CloseRejected naming the field."""
        try:
            value = decode_period_closed(body, None, self._tax_years)
            if value["registry"] != registry:
                raise EventRejected(
                    "schema",
                    f"registry must be {registry!r}, the registry in the path and of the key.",
                    "registry",
                )
        except EventRejected as rejected:
            error = EventError(
                0, event_id_of(body), rejected.reason_code, rejected.field, rejected.reason
            )
            raise CloseRejected(error) from None
        return value

    async def close(self, registry: str, key_id: str, body: bytes) -> CloseResult:
        value = await asyncio.to_thread(self.validate, registry, body)
        year = int(value["tax_year"])
        earlier = await asyncio.to_thread(self._earlier, registry, year)
        if earlier is not None:
            return CloseResult("already_closed", registry, year, *earlier)
        claimed = await asyncio.to_thread(self._claim, registry, year, value, key_id)
        if not claimed:
            earlier = await asyncio.to_thread(self._earlier, registry, year)
            if earlier is None:
                raise ConcurrentClaim("the close of this year is being sent by another request")
            return CloseResult("already_closed", registry, year, *earlier)
        topic = namespaced(PERIOD_CLOSED, self._namespace)
        try:
            await self._publisher.publish([OutgoingMessage(topic, registry.encode(), body)])
        except BaseException:
            await asyncio.to_thread(self._accepted.release_close, registry, year)
            raise
        await asyncio.to_thread(
            self._accepted.mark_close_published, registry, year, self._clock.now()
        )
        return CloseResult("closed", registry, year, value["event_id"], value["closed_at"])

    def _claim(self, registry: str, year: int, value: dict[str, Any], key_id: str) -> bool:
        """Claim the close; a claim left unpublished (a crash, a failed send) is replaced."""
        for _attempt in range(2):
            if self._accepted.claim_close(
                registry, year, value["event_id"], value["closed_at"], key_id, self._clock.now()
            ):
                return True
            self._accepted.release_close(registry, year)  # only an unpublished claim goes
        return False

    def _earlier(self, registry: str, year: int) -> tuple[str | None, str] | None:
        """(event_id, closed_at) of a close already made (event_id None when it was seen
        on the topic only), or None."""
        record = self._accepted.lookup_close(registry, year)
        if record is not None and record.published:
            return record.event_id, record.closed_at
        return self._closed_elsewhere(registry, year)
