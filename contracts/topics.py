"""Topic names and partition counts: the single list every other part reads.

Registry topics, ``returns.v1`` and the ledger's changelog are keyed by PINFL and must
share one partition count so that a taxpayer's events and ledger live in the same
partition (co-partitioning; faust tables depend on it).
"""

from __future__ import annotations

import dataclasses
import enum

REGISTRIES: tuple[str, ...] = (
    "population",
    "payroll",
    "rental",
    "property_sale",
    "dividend",
    "deduction",
)


class Keying(enum.Enum):
    PINFL = "pinfl"  # co-partitioned with the ledger
    REGISTRY = "registry"  # keyed by registry name: low volume
    SOURCE = "source"  # the source key (dead letters)
    CHAT = "chat"  # a Telegram chat id (raw bot updates, internal)


@dataclasses.dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    keying: Keying
    description: str

    def partitions(self, default_partitions: int) -> int:
        return default_partitions if self.keying is not Keying.REGISTRY else 1


def registry_topic(registry: str) -> str:
    return f"registry.{registry}.v1"


PERIOD_CLOSED = "registry.period_closed.v1"
DEADLETTER = "registry.deadletter.v1"
RETURNS = "returns.v1"
DECISIONS = "decisions.v1"
PAYMENTS = "payments.v1"
DISPUTES = "disputes.v1"
DISPUTE_RESPONSES = "disputes.responses.v1"
NOTICES = "notices.v1"  # internal: lifecycle -> notifier (what to tell whom)
NOTIFICATIONS = "notifications.v1"  # internal: delivery statuses (dashboard, lifecycle)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    *(
        TopicSpec(registry_topic(r), Keying.PINFL, f"{r} registry events (CONTRACT.md)")
        for r in REGISTRIES
    ),
    TopicSpec(PERIOD_CLOSED, Keying.REGISTRY, "completeness watermarks per registry and year"),
    TopicSpec(DEADLETTER, Keying.SOURCE, "rejected registry events with a reason"),
    TopicSpec(RETURNS, Keying.PINFL, "every computed version of a return"),
    TopicSpec(DECISIONS, Keying.PINFL, "taxpayer agree/disagree decisions"),
    TopicSpec(PAYMENTS, Keying.PINFL, "payments and refunds"),
    TopicSpec(DISPUTES, Keying.REGISTRY, "disputed lines sent to the source registry"),
    TopicSpec(DISPUTE_RESPONSES, Keying.REGISTRY, "registry answers to disputes"),
    TopicSpec(NOTICES, Keying.PINFL, "notices the lifecycle asks the notifier to deliver"),
    TopicSpec(NOTIFICATIONS, Keying.PINFL, "delivery statuses of notices per channel"),
)

# Internal topics of the service itself (no integrator writes them): the stream worker's
# year releases and the webhook receiver's updates.
YEAR_RELEASED = "proactax.year_released.v1"
TELEGRAM_UPDATES = "telegram.updates.v1"  # webhook receiver -> bot workers (notifier)
INTERNAL_TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(
        YEAR_RELEASED,
        Keying.PINFL,  # one message per ledger partition
        "a tax year is complete: compute its returns (internal)",
    ),
    TopicSpec(
        TELEGRAM_UPDATES,
        Keying.CHAT,  # a chat's updates stay in order
        "raw Telegram updates from the webhook receiver, keyed by chat (internal)",
    ),
)

TOPIC_NAMES: tuple[str, ...] = tuple(t.name for t in ALL_TOPICS)


def namespaced(name: str, namespace: str) -> str:
    """Tests isolate pipelines on one broker with a namespace prefix; production has none."""
    return f"{namespace}.{name}" if namespace else name


def registry_of_topic(topic: str, namespace: str = "") -> str | None:
    """``registry.payroll.v1`` -> ``payroll``; None for a topic that is no registry's."""
    prefix = f"{namespace}." if namespace else ""
    if not topic.startswith(prefix):
        return None
    parts = topic[len(prefix) :].split(".")
    if len(parts) == 3 and parts[0] == "registry" and parts[2] == "v1" and parts[1] in REGISTRIES:
        return parts[1]
    return None
