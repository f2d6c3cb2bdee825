"""What one task's batch sends inside its transaction (the ``Outputs`` port of
agents/ingest_batch.py): returns, the staff's and the registry's own dead letters, and the
registry's receipts, one message per registry per batch."""

from __future__ import annotations

import functools
from typing import Any

import orjson

from contracts import topics as contract_topics
from contracts.receipts import RECEIPTS_PER_MESSAGE, receipts_message

# How a task's producer batches what it sends: up to ~1 MB a partition (the broker's
# default message.max.bytes is 1,048,588): with aiokafka's 16 KiB default a return (≈ 11 KB)
# filled a batch on its own, and one produce request in flight per broker made a release a
# round trip a return. zstd (aiokafka through cramjam; every Kafka client since 2.1 reads
# it): a return's JSON shrinks ≈ 9x, so TLS on both sides and the broker carry a ninth of
# the bytes: at 300,000 residents one worker 204 ► 187 s and 220 ► 205 CPU s, the broker
# 20 ► 11 CPU s, peak RSS 585 ► 469 MiB (docs/benchmarks.md, eleventh session).
TASK_PRODUCER_OPTIONS: dict[str, Any] = {
    "max_batch_size": 1_000_000,
    "max_request_size": 4 * 1024 * 1024,
    "compression_type": "zstd",
}


def wire_json(value: Any) -> bytes:
    """Compact UTF-8 JSON; orjson: the standard library's encoder was a tenth of a release."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


@functools.cache
def own_topics(namespace: str) -> dict[str, tuple[str, str]]:
    """Each registry's own dead-letter and receipts topics (issue 17)."""
    return {
        r: (
            contract_topics.namespaced(contract_topics.registry_deadletter_topic(r), namespace),
            contract_topics.namespaced(contract_topics.registry_receipts_topic(r), namespace),
        )
        for r in contract_topics.REGISTRIES
    }


class BatchOutputs:
    """The ``Outputs`` port of agents/ingest_batch.py: messages held for the transaction."""

    def __init__(
        self, returns_topic: str, deadletter_topic: str, namespace: str = "", partition: int = 0
    ) -> None:
        self.returns_topic = returns_topic
        self.deadletter_topic = deadletter_topic
        self.own = own_topics(namespace)  # registry -> (its dead letters, its receipts)
        self.partition = partition  # the task's: a record's receipts stay in order
        self.messages: list[tuple[str, bytes | None, bytes, int | None]] = []
        self.receipts: dict[str, list[bytes]] = {}  # registry -> this batch's receipts

    def send_return(self, pinfl: str, value: dict[str, Any]) -> None:
        self.messages.append((self.returns_topic, pinfl.encode(), wire_json(value), None))

    def send_dead_letter(self, key: bytes | None, value: bytes, registry: str | None) -> None:
        self.messages.append((self.deadletter_topic, key, value, None))
        if registry is not None:
            self.messages.append((self.own[registry][0], key, value, None))

    def send_receipt(self, registry: str, event_id: str, value: bytes) -> None:
        self.receipts.setdefault(registry, []).append(value)

    def all_messages(self) -> list[tuple[str, bytes | None, bytes, int | None]]:
        """The batch's messages, its receipts as one message per registry (and per
        ``RECEIPTS_PER_MESSAGE``): a send per event cost ≈ 13 µs of the ≈ 75 µs an event
        costs the batch (docs/integrators.md §8a)."""
        for registry, values in self.receipts.items():
            key = registry.encode()
            for i in range(0, len(values), RECEIPTS_PER_MESSAGE):
                value = receipts_message(values[i : i + RECEIPTS_PER_MESSAGE])
                self.messages.append((self.own[registry][1], key, value, self.partition))
        self.receipts = {}
        return self.messages

    def send(self, topic: str, key: bytes | None, value: bytes, partition: int | None) -> None:
        self.messages.append((topic, key, value, partition))
