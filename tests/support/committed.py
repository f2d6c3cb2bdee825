"""``returns.v1`` as a ``read_committed`` consumer sees it, and the exactly-once check on
it: no (PINFL, tax year, version) twice, no version number skipped (issue 13)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts.topics import ALL_TOPICS, RETURNS, namespaced
from core.kafka import client_options
from core.settings import Settings

Version = tuple[str, int, int]  # pinfl, tax year, version


async def _committed_versions(settings: Settings) -> list[Version]:
    topic = namespaced(RETURNS, settings.topic_namespace)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        **client_options(settings),
    )
    await consumer.start()
    try:
        spec = next(t for t in ALL_TOPICS if t.name == RETURNS)
        partitions = [TopicPartition(topic, p) for p in range(spec.partitions(settings.partitions))]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)  # the last stable offsets
        seen: list[Version] = []
        async with asyncio.timeout(120):
            while any([await consumer.position(tp) < end for tp, end in ends.items()]):
                for records in (await consumer.getmany(*partitions, timeout_ms=500)).values():
                    for record in records:
                        value = json.loads(record.value)
                        seen.append((value["pinfl"], value["tax_year"], value["version"]))
        return seen
    finally:
        await consumer.stop()


def committed_versions(settings: Settings) -> list[Version]:
    """Every version on returns.v1 up to its last stable offset, read_committed."""
    return asyncio.run(_committed_versions(settings))


def version_problems(seen: list[Version]) -> list[str]:
    """(PINFL, year, version) seen twice; a taxpayer's numbers not running 1..n."""
    problems = [f"{v} twice" for v, n in Counter(seen).items() if n > 1]
    numbers: dict[tuple[str, int], set[int]] = {}
    for pinfl, year, version in seen:
        numbers.setdefault((pinfl, year), set()).add(version)
    problems += [
        f"{key}: versions {sorted(held)}"
        for key, held in numbers.items()
        if sorted(held) != list(range(1, len(held) + 1))
    ]
    return problems
