"""Publishes a season to the ``registry.*.v1`` topics exactly as CONTRACT.md defines them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from aiokafka import AIOKafkaProducer

from contracts.topics import PERIOD_CLOSED, namespaced, registry_topic
from registries_mock.season import Event


async def publish(
    events: Iterable[Event],
    bootstrap_servers: str,
    namespace: str = "",
    progress: Callable[[int], None] | None = None,
) -> int:
    """Send every event (key = PINFL) and wait until the broker has them all. Returns the count."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    sent = 0
    try:
        pending = []
        for event in events:
            topic = namespaced(registry_topic(event.topic_registry), namespace)
            pending.append(
                await producer.send(
                    topic,
                    key=event.key.encode(),
                    value=json.dumps(event.value, ensure_ascii=False).encode(),
                )
            )
            sent += 1
            if len(pending) >= 1000:
                for future in pending:
                    await future
                pending.clear()
                if progress:
                    progress(sent)
        for future in pending:
            await future
        if progress:
            progress(sent)
    finally:
        await producer.stop()
    return sent


INCOME_REGISTRIES = ("payroll", "rental", "property_sale", "dividend", "deduction")


async def close_year(
    tax_year: int,
    bootstrap_servers: str,
    namespace: str = "",
    registries: Iterable[str] = INCOME_REGISTRIES,
    closed_at: str | None = None,
) -> None:
    """Each registry says it has published every record of ``tax_year`` (period_closed.v1)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    await producer.start()
    try:
        for registry in registries:
            value = {
                "event_id": f"closed-{registry}-{tax_year}",
                "registry": registry,
                "schema_version": 1,
                "tax_year": tax_year,
                "closed_at": closed_at or f"{tax_year + 1}-01-15T09:00:00+05:00",
            }
            await producer.send_and_wait(
                namespaced(PERIOD_CLOSED, namespace),
                key=registry.encode(),
                value=json.dumps(value).encode(),
            )
    finally:
        await producer.stop()
