"""The portal's Kafka side: one aiokafka producer (acks=all, idempotent) per process,
behind ``KafkaPublisher``, which returns only once the broker acked every message."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Sequence
from typing import Any, Protocol

from core.kafka import client_options
from core.settings import Settings


class ProducerLike(Protocol):
    """The part of ``aiokafka.AIOKafkaProducer`` the portal uses (a fake in unit tests)."""

    async def send(self, topic: str, value: Any = None, key: Any = None) -> Awaitable[Any]: ...


@dataclasses.dataclass(frozen=True, slots=True)
class OutgoingMessage:
    topic: str
    key: bytes
    value: bytes


class PublishFailed(RuntimeError):
    """The broker did not acknowledge every message of a request."""


def make_producer(settings: Settings) -> Any:
    """A new (not yet started) aiokafka producer: acks from every in-sync replica,
    idempotent, so a retried send never duplicates a message."""
    from aiokafka import AIOKafkaProducer

    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        **client_options(settings),
        client_id=f"{settings.app_id}-portal",
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
        request_timeout_ms=30_000,
    )


class KafkaPublisher:
    def __init__(self, producer: ProducerLike) -> None:
        self._producer = producer

    async def publish(self, messages: Sequence[OutgoingMessage]) -> None:
        """Send every message and wait for every acknowledgement; raise PublishFailed."""
        try:
            pending = [
                await self._producer.send(m.topic, value=m.value, key=m.key) for m in messages
            ]
            results = await asyncio.gather(*pending, return_exceptions=True)
        except Exception as exc:
            raise PublishFailed(f"the broker did not take the events: {exc!r}") from exc
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise PublishFailed(
                f"the broker did not acknowledge {len(failures)} of {len(messages)} events: "
                f"{failures[0]!r}"
            )
