"""The registry agent: decode ► fold into the ledger ► compute ► emit ``returns.v1``.

Invalid events go to the dead-letter topic with a reason; the partition keeps flowing.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from agents.completeness import release_key
from agents.ledger import Outcome, apply_event, empty_ledger, event_key, ledger_key
from agents.returns_builder import current_version, next_version
from contracts.deadletters import deadletter_value
from contracts.redaction import mask_pinfl
from contracts.registry_events import (
    EventRejected,
    RegistryEvent,
    ValidationPolicy,
    decode_event,
)
from contracts.topics import registry_of_topic
from proactax.clock import Clock, rfc3339
from proactax.settings import Settings
from streams.topology import Topology
from tax.errors import TaxError

log = logging.getLogger(__name__)


def wire(app: Any, topology: Topology, settings: Settings, clock: Clock, parameters: Any) -> Any:
    policy = ValidationPolicy.from_settings(settings)
    namespace = settings.topic_namespace

    async def dead_letter(event: Any, rejected: EventRejected) -> None:
        message = event.message
        log.info(
            "dead letter %s from %s[%s]@%s: %s",
            rejected.reason_code,
            message.topic,
            message.partition,
            message.offset,
            rejected.field,
        )
        await topology.deadletter.send(
            key=message.key,
            value=deadletter_value(
                source_topic=message.topic,
                source_partition=message.partition,
                source_offset=message.offset,
                received_at=rfc3339(clock.now()),
                reason_code=rejected.reason_code,
                reason=rejected.reason,
                field=rejected.field,
                raw=event.value,
            ),
        )

    def decode(event: Any) -> RegistryEvent:
        registry = registry_of_topic(event.message.topic, namespace)
        if registry is None:  # cannot happen with our subscription; guard the invariant
            raise EventRejected("unknown_registry", "The topic is no registry's.", None)
        decoded = decode_event(event.value, registry, policy)
        if event.message.key != decoded.pinfl.encode():
            raise EventRejected("schema", "The Kafka key must be the event's pinfl.", "key")
        return decoded

    def compute(
        build: Any, pinfl: str, tax_year: int, ledger: Any, computed_at: str
    ) -> dict[str, Any] | None:
        """``next_version``/``current_version``, or None when the engine refuses the facts
        (a year with no parameters, say): logged, never a crash of the partition."""
        try:
            value: dict[str, Any] | None = build(pinfl, tax_year, ledger, parameters, computed_at)
            return value
        except TaxError as exc:
            log.error("no %s return for %s: %s", tax_year, mask_pinfl(pinfl), exc)
            return None

    def released(tax_year: int, partition: int) -> bool:
        return topology.releases.get(release_key(tax_year, partition)) is not None

    async def emit(pinfl: str, value: dict[str, Any] | None) -> None:
        if value is not None:
            log.debug("return %s v%s", mask_pinfl(pinfl), value["version"])
            await topology.returns.send(
                key=pinfl.encode(), value=json.dumps(value, ensure_ascii=False).encode()
            )

    async def fold_income(event: Any, decoded: RegistryEvent) -> None:
        assert decoded.tax_year is not None
        key = ledger_key(decoded.pinfl, decoded.tax_year)
        ledger = topology.ledger.get(key) or empty_ledger()
        outcome = apply_event(ledger, decoded)
        if outcome is Outcome.CONFLICT:
            topology.ledger[key] = ledger
            await dead_letter(
                event,
                EventRejected(
                    "conflict",
                    "This event_id or revision was already used with different content.",
                    "event_id",
                ),
            )
            return
        partition = event.message.partition
        if outcome is Outcome.APPLIED:
            ledger["partition"] = partition
            value = None
            if released(decoded.tax_year, partition):
                value = compute(
                    next_version, decoded.pinfl, decoded.tax_year, ledger, rfc3339(clock.now())
                )
                if value is not None:
                    ledger["last_event"] = event_key(decoded)
            topology.ledger[key] = ledger  # reassign: faust writes the changelog on set
            await emit(decoded.pinfl, value)
        elif outcome is Outcome.DUPLICATE and ledger["last_event"] == event_key(decoded):
            # A replay after a crash: the ledger change reached the changelog but the
            # return may not have reached returns.v1. Send the same version again;
            # consumers keep one row per (pinfl, tax_year, version).
            await emit(
                decoded.pinfl,
                compute(
                    current_version, decoded.pinfl, decoded.tax_year, ledger, rfc3339(clock.now())
                ),
            )

    async def release_year(event: Any) -> None:
        """Compute every ledger of a year in this partition: the year is complete."""
        message = event.message
        try:
            release = json.loads(event.value)
            tax_year = int(release["tax_year"])
        except (ValueError, KeyError, TypeError):
            log.error("ignoring a malformed release message at offset %s", message.offset)
            return
        key = release_key(tax_year, message.partition)
        held = topology.releases.get(key)
        replay = held is not None and held["offset"] == message.offset
        if held is not None and not replay:
            return  # released already (all registries closed, then the cut-off, say)
        if held is None:
            topology.releases[key] = {
                "offset": message.offset,
                "reason": release.get("reason", ""),
                "released_at": rfc3339(clock.now()),
            }
        computed_at = rfc3339(clock.now())
        suffix = f":{tax_year}"
        keys = [
            k
            for k, ledger in topology.ledger.items()
            if k.endswith(suffix) and ledger.get("partition") == message.partition
        ]
        log.info(
            "tax year %s released on partition %s (%s): %s ledgers",
            tax_year,
            message.partition,
            release.get("reason"),
            len(keys),
        )
        for k in keys:
            ledger = topology.ledger[k]
            pinfl = k[: -len(suffix)]
            if replay:  # after a crash: the first sends may be lost; same versions again
                await emit(pinfl, compute(current_version, pinfl, tax_year, ledger, computed_at))
                continue
            value = compute(next_version, pinfl, tax_year, ledger, computed_at)
            if value is not None:
                ledger["last_event"] = ""
                topology.ledger[k] = ledger
                await emit(pinfl, value)

    @app.agent(topology.registry_stream, name="registry_ingest", concurrency=1)
    async def registry_ingest(stream: Any) -> None:
        async for event in stream.events():
            if topology.is_release_topic(event.message.topic):
                await release_year(event)
                continue
            try:
                decoded = decode(event)
            except EventRejected as rejected:
                await dead_letter(event, rejected)
                continue
            if decoded.registry != "population":  # people: agents/projection.py
                await fold_income(event, decoded)

    return registry_ingest
