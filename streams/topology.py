"""Topic and table declarations of the stream worker.

Every contract topic is declared here with raw (bytes) codecs: values on integrator-facing
topics are plain JSON written and read by our own code, never faust records with
``__faust`` metadata. One internal topic, ``proactax.year_released.v1``, carries the
completeness release of a tax year to every ledger partition.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from contracts import topics as contract_topics
from core.settings import Settings

if TYPE_CHECKING:  # the launcher reads topic names here without importing faust
    import faust

# The registry path's on-disk stores (streams/state.py), each with a compacted changelog
# written in the batch's transaction (streams/transactions.py):
LEDGER_TABLE = "ledger"  # "<year>:<pinfl>" -> Ledger (agents/ledger.py)
RELEASES_TABLE = "releases"  # "<year>:<partition>" -> when and why the year was released
CLOSURES_TABLE = "closures"  # "<registry>:<year>" -> closed_at (period_closed watermarks)
PINFL_TABLES: tuple[str, ...] = (LEDGER_TABLE, RELEASES_TABLE)
TABLES: tuple[str, ...] = (*PINFL_TABLES, CLOSURES_TABLE)


def changelog_topic(app_id: str, table: str) -> str:
    """A store's changelog topic (the name faust gave the tables of earlier versions)."""
    return f"{app_id}-{table}-changelog"


def changelog_specs(settings: Settings) -> list[contract_topics.TopicSpec]:
    """The tables' changelog topics, each co-partitioned with the topic that feeds it.

    Their names carry the app id, not the topic namespace; create them with namespace "".
    """
    return [
        contract_topics.TopicSpec(
            changelog_topic(settings.app_id, table),
            contract_topics.Keying.PINFL
            if table in PINFL_TABLES
            else contract_topics.Keying.REGISTRY,
            f"changelog of the {table} table",
        )
        for table in TABLES
    ]


def declared_topics(settings: Settings) -> dict[str, int]:
    """Every topic the worker uses, with its partition count: what the launcher creates."""
    ns = settings.topic_namespace
    names = {
        contract_topics.namespaced(spec.name, ns): spec.partitions(settings.partitions)
        for spec in (*contract_topics.ALL_TOPICS, *contract_topics.INTERNAL_TOPICS)
    }
    names.update(
        (spec.name, spec.partitions(settings.partitions)) for spec in changelog_specs(settings)
    )
    return names


@dataclasses.dataclass(frozen=True)
class Topology:
    period_closed: Any
    population: Any
    deadletter: Any
    returns: Any
    contract: dict[str, Any]  # contract topic name -> faust topic
    partitions: int


def declare(app: faust.App, settings: Settings) -> Topology:
    ns = settings.topic_namespace
    raw: dict[str, Any] = {
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }

    def topic(spec: contract_topics.TopicSpec) -> Any:
        return app.topic(
            contract_topics.namespaced(spec.name, ns),
            partitions=spec.partitions(settings.partitions),
            internal=False,
            **raw,
        )

    contract = {spec.name: topic(spec) for spec in contract_topics.ALL_TOPICS}

    return Topology(
        period_closed=contract[contract_topics.PERIOD_CLOSED],
        population=contract[contract_topics.registry_topic("population")],
        deadletter=contract[contract_topics.DEADLETTER],
        returns=contract[contract_topics.RETURNS],
        contract=contract,
        partitions=settings.partitions,
    )
