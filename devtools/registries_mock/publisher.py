"""Publishes a season to the ``registry.*.v1`` topics exactly as CONTRACT.md defines them:
Kafka key = the PINFL, value = the event's bytes (broken ones byte for byte)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from contracts.topics import PERIOD_CLOSED, namespaced, registry_topic
from core.kafka import client_options
from core.settings import Settings
from devtools.registries_mock.season import Event

INCOME_REGISTRIES = ("payroll", "rental", "property_sale", "dividend", "deduction")
MAX_REQUEST_BYTES = 2 * 1024 * 1024  # room for the oversized events of a faulty season


class Throttle:
    """Keeps an average of at most ``rate`` events per second (0 = as fast as possible)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.started = time.monotonic()

    async def wait(self, done: int) -> None:
        if self.rate <= 0:
            return
        ahead = self.started + done / self.rate - time.monotonic()
        if ahead > 0.005:
            await asyncio.sleep(ahead)


async def publish(
    events: Iterable[Event],
    settings: Settings,
    namespace: str = "",
    progress: Callable[[int], None] | None = None,
    rate: float = 0,
) -> int:
    """Send every event (key = PINFL) and wait until the broker has them all.

    ``rate`` caps the average events per second (0 = unthrottled). Order is kept per
    partition (idempotent producer), so out-of-order revisions arrive as generated.
    Returns the count. Publishes as the process's Kafka principal (``mock`` for
    ``proactax mock``/``demo``: it acts as every registry).
    """
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        **client_options(settings),
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=256 * 1024,
        max_request_size=MAX_REQUEST_BYTES,
    )
    await producer.start()
    throttle = Throttle(rate)
    step = 1000 if rate <= 0 else max(1, min(1000, int(rate // 4)))
    sent = 0
    try:
        pending: list[tuple[Any, str, bytes, bytes | None]] = []
        for event in events:
            topic = namespaced(registry_topic(event.topic_registry), namespace)
            key = event.key.encode()
            pending.append(
                (
                    await producer.send(topic, key=key, value=event.payload),
                    topic,
                    key,
                    event.payload,
                )
            )
            sent += 1
            if len(pending) >= step:
                await _delivered(producer, pending)
                pending.clear()
                if progress:
                    progress(sent)
                await throttle.wait(sent)
        await _delivered(producer, pending)
        if progress:
            progress(sent)
    finally:
        await producer.stop()
    return sent


RETRY_FOR_S = 180.0  # a registry keeps trying through a broker restart, as a real one would


async def _delivered(producer: Any, pending: list[tuple[Any, str, bytes, bytes | None]]) -> None:
    """Wait for each send; one that failed with a retriable error (no leader while the
    broker restarts, say) is sent again until RETRY_FOR_S. A repeat is harmless: the
    ledger ignores an event_id it has folded (CONTRACT.md)."""
    deadline = time.monotonic() + RETRY_FOR_S
    for future, topic, key, value in pending:
        while True:
            try:
                await future
                break
            except KafkaError as error:
                if not error.retriable or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(1.0)
                future = await producer.send(topic, key=key, value=value)


def period_closed_value(registry: str, tax_year: int, closed_at: str | None = None) -> bytes:
    return json.dumps(
        {
            "event_id": f"closed-{registry}-{tax_year}",
            "registry": registry,
            "schema_version": 1,
            "tax_year": tax_year,
            "closed_at": closed_at or f"{tax_year + 1}-01-15T09:00:00+05:00",
        }
    ).encode()


async def close_year(
    tax_year: int,
    settings: Settings,
    namespace: str = "",
    registries: Iterable[str] = INCOME_REGISTRIES,
    closed_at: str | None = None,
) -> None:
    """Each registry says it has published every record of ``tax_year`` (period_closed.v1)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, acks="all", **client_options(settings)
    )
    await producer.start()
    try:
        for registry in registries:
            await producer.send_and_wait(
                namespaced(PERIOD_CLOSED, namespace),
                key=registry.encode(),
                value=period_closed_value(registry, tax_year, closed_at),
            )
    finally:
        await producer.stop()
