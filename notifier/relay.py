"""The status-event relay: ``notifier_events`` rows ► ``notifications.v1`` (keyed by PINFL),
deleted once the broker acknowledged them (a crash in between republishes: at least once)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from contracts import topics
from notifier.screens import SURVEY_KIND
from storage.notifier.events import Events

BATCH = 500


class Relay:
    def __init__(
        self, events: Events, producer: Any, namespace: str = "", idle_s: float = 0.2
    ) -> None:
        self._events = events
        self._producer = producer
        self._topic = topics.namespaced(topics.NOTIFICATIONS, namespace)
        self._idle_s = idle_s
        self.published = 0

    async def publish_some(self) -> int:
        rows = await asyncio.to_thread(self._events.fetch, BATCH)
        if not rows:
            return 0
        # A survey question is the bot's own (docs/notifier.md): its statuses stay in the
        # notifier's tables and never reach the lifecycle or the funnel.
        futures = [
            await self._producer.send(
                self._topic,
                json.dumps(payload, ensure_ascii=False).encode("utf-8"),
                key=pinfl.encode("ascii"),
            )
            for _, pinfl, payload in rows
            if payload.get("kind") != SURVEY_KIND
        ]
        await asyncio.gather(*futures)
        await asyncio.to_thread(self._events.delete, [row_id for row_id, _, _ in rows])
        self.published += len(rows)
        return len(rows)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if await self.publish_some() == 0:
                try:
                    await asyncio.wait_for(stop.wait(), self._idle_s)
                except TimeoutError:
                    pass
        while await self.publish_some():  # drain what the last sends wrote
            pass
