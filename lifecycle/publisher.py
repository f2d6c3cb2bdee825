"""The decision publisher the bot and the portal hand to ``LifecycleService``: one aiokafka
producer (acks=all, idempotent) on ``decisions.v1``, keyed by PINFL."""

from __future__ import annotations

from typing import Any

from contracts import topics
from contracts.topics import namespaced
from core.kafka import client_options
from core.settings import Settings


class KafkaDecisionPublisher:
    def __init__(self, settings: Settings, producer: Any = None) -> None:
        self.topic = namespaced(topics.DECISIONS, settings.topic_namespace)
        self._settings = settings
        self._producer = producer
        self._owned = producer is None

    async def start(self) -> KafkaDecisionPublisher:
        if self._producer is None:
            from aiokafka import AIOKafkaProducer

            self._producer = AIOKafkaProducer(
                bootstrap_servers=self._settings.bootstrap_servers,
                **client_options(self._settings),
                client_id=f"{self._settings.app_id}-decisions",
                acks="all",
                enable_idempotence=True,
                request_timeout_ms=30_000,
            )
            await self._producer.start()
        return self

    async def stop(self) -> None:
        if self._owned and self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def __aenter__(self) -> KafkaDecisionPublisher:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def publish(self, key: bytes, value: bytes) -> None:
        if self._producer is None:
            raise RuntimeError("KafkaDecisionPublisher.start() first")
        await self._producer.send_and_wait(self.topic, key=key, value=value)
