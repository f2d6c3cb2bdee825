"""Topic and table declarations of the stream worker.

Every contract topic is declared here with raw (bytes) codecs: values on integrator-facing
topics are plain JSON written and read by our own code, never faust records with
``__faust`` metadata.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from contracts import topics as contract_topics
from proactax.settings import Settings

if TYPE_CHECKING:  # the launcher reads topic names here without importing faust
    import faust

LEDGER_TABLE = "ledger"
PEOPLE_TABLE = "people"
TABLES: tuple[str, ...] = (LEDGER_TABLE, PEOPLE_TABLE)


def changelog_topic(app_id: str, table: str) -> str:
    """Faust's own naming of a table's changelog topic."""
    return f"{app_id}-{table}-changelog"


def declared_topics(settings: Settings) -> dict[str, int]:
    """Every topic the worker uses, with its partition count: what the launcher creates."""
    names = {
        contract_topics.namespaced(spec.name, settings.topic_namespace): spec.partitions(
            settings.partitions
        )
        for spec in contract_topics.ALL_TOPICS
    }
    names.update(
        (spec.name, spec.partitions(settings.partitions)) for spec in changelog_specs(settings)
    )
    return names


@dataclasses.dataclass(frozen=True)
class Topology:
    registry_topics: dict[str, Any]  # registry name -> faust topic
    registry_stream: Any  # one channel over all registry topics
    deadletter: Any
    returns: Any
    contract: dict[str, Any]  # contract topic name -> faust topic
    ledger: Any  # faust Table: "<pinfl>:<year>" -> Ledger dict
    people: Any  # faust Table: pinfl -> population record


def declare(app: faust.App, settings: Settings) -> Topology:
    ns = settings.topic_namespace

    def topic(name: str, partitions: int) -> Any:
        return app.topic(
            contract_topics.namespaced(name, ns),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=partitions,
            internal=False,
        )

    contract = {
        spec.name: topic(spec.name, spec.partitions(settings.partitions))
        for spec in contract_topics.ALL_TOPICS
    }
    registry_names = [
        contract_topics.namespaced(contract_topics.registry_topic(r), ns)
        for r in contract_topics.REGISTRIES
    ]
    registry_stream = app.topic(
        *registry_names,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    ledger = app.Table(
        LEDGER_TABLE,
        default=None,
        partitions=settings.partitions,
        key_type=str,
    )
    people = app.Table(
        PEOPLE_TABLE,
        default=None,
        partitions=settings.partitions,
        key_type=str,
    )
    return Topology(
        registry_topics={
            r: contract[contract_topics.registry_topic(r)] for r in contract_topics.REGISTRIES
        },
        registry_stream=registry_stream,
        deadletter=contract[contract_topics.DEADLETTER],
        returns=contract[contract_topics.RETURNS],
        contract=contract,
        ledger=ledger,
        people=people,
    )


def changelog_specs(settings: Settings) -> list[contract_topics.TopicSpec]:
    """The tables' changelog topics, co-partitioned with the registry topics.

    Their names carry the app id, not the topic namespace; create them with namespace "".
    """
    return [
        contract_topics.TopicSpec(
            changelog_topic(settings.app_id, table),
            contract_topics.Keying.PINFL,
            f"changelog of the {table} table",
        )
        for table in TABLES
    ]
