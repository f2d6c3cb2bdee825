"""A stand-in for faust's Kafka producer so agents run under ``test_context()`` without a
broker. It fakes the third-party transport only; our agents, tables and topics are real."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from aiokafka.structs import RecordMetadata


class RecordingProducer:
    def __init__(self) -> None:
        self.sent: dict[str, list[tuple[bytes | None, bytes | None]]] = defaultdict(list)
        self.buffered: list[Any] = []

    async def maybe_start(self) -> None:
        return None

    async def send(
        self,
        topic: str,
        key: Any,
        value: Any,
        partition: int | None = None,
        timestamp: float | None = None,
        headers: Any = None,
        **_: Any,
    ) -> asyncio.Future[RecordMetadata]:
        self.sent[topic].append((key, value))
        future: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
        future.set_result(
            RecordMetadata(topic, partition or 0, None, len(self.sent[topic]) - 1, -1, 0, None)
        )
        return future

    async def send_and_wait(self, *args: Any, **kwargs: Any) -> RecordMetadata:
        return await (await self.send(*args, **kwargs))

    def send_soon(self, fut: Any) -> None:
        """Table changelog writes are buffered by faust; record them."""
        self.buffered.append(fut)

    def key_partition(self, topic: str, key: bytes) -> Any:
        return None

    async def flush(self) -> None:
        return None
