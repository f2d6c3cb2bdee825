"""The hostile-input set shared by the fast unit check and the broker test, and a judge
that answers each event the way the registry agent does (decode, Kafka key, ledger)."""

from __future__ import annotations

import dataclasses

from agents.ledger import FoldResult, Ledger, apply_event, empty_ledger, ledger_key
from agents.receipts import conflict
from contracts.registry_events import EventRejected, RegistryEvent, decode_event
from contracts.validation import ValidationPolicy
from devtools.registries_mock.hostile import hostile_events
from devtools.registries_mock.season import Event, Season, generate_season

HOSTILE = 10_000
TAX_YEAR = 2026


@dataclasses.dataclass(frozen=True)
class HostileRun:
    season: Season  # valid: its events before (originals) and after the hostile ones
    before: list[Event]
    hostile: list[Event]
    after: list[Event]


def hostile_run(
    policy: ValidationPolicy, id_prefix: str = "hostile", n: int = HOSTILE, people: int = 60
) -> HostileRun:
    season = generate_season(people, TAX_YEAR, seed=99, id_prefix=id_prefix, policy=policy)
    half = len(season.events) // 2
    before, after = season.events[:half], season.events[half:]
    hostile = hostile_events(n, season.events, before, policy, id_prefix=f"{id_prefix}-x")
    return HostileRun(season, before, hostile, after)


def judge(
    event: Event, policy: ValidationPolicy, ledgers: dict[str, Ledger]
) -> tuple[str, str | None] | None:
    """(reason_code, field) of the dead letter the agent must write, or None (accepted)."""
    try:
        decoded: RegistryEvent = decode_event(event.payload, event.topic_registry, policy)
    except EventRejected as rejected:
        return rejected.reason_code, rejected.field
    if event.key.encode() != decoded.pinfl.encode():
        return "schema", "key"
    if decoded.registry == "population":
        return None
    assert decoded.tax_year is not None
    ledger = ledgers.setdefault(ledger_key(decoded.pinfl, decoded.tax_year), empty_ledger())
    if apply_event(ledger, decoded) is FoldResult.CONFLICT:
        return "conflict", conflict(ledger, decoded)[0]  # event_id or revision reused
    return None
