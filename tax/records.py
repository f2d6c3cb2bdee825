"""What the ledger hands the engine: active registry records, and their provenance.

A ``RegistryRecord`` is the latest non-void revision of one record of one registry for
one taxpayer and tax year. ``active_records`` is a small ledger-free fold (highest
revision wins, a void withdraws) used by the tests and the ``tax explain`` command; the
streaming ledger does the same fold in a faust table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

TAX_REGISTRIES = ("payroll", "rental", "property_sale", "dividend", "deduction")


class SourceRef(msgspec.Struct, frozen=True, order=True):
    """Where a figure comes from: one revision of one registry record.

    A frozen msgspec Struct rather than a frozen dataclass: every line hashes and sorts its
    sources (``LineBook.add``), ≈ 117 a return, and a Struct hashes and orders by its fields
    (registry, record_id, revision) in C, where the dataclass ran Python for each."""

    registry: str
    record_id: str
    revision: int

    def __str__(self) -> str:
        return f"{self.registry}/{self.record_id}#{self.revision}"


class RegistryRecord(msgspec.Struct, frozen=True):
    """The active revision of one registry record; ``data`` is CONTRACT.md's ``data`` object."""

    registry: str
    record_id: str
    revision: int
    data: Mapping[str, Any]

    @property
    def source(self) -> SourceRef:
        return SourceRef(self.registry, self.record_id, self.revision)


@dataclasses.dataclass(frozen=True, slots=True)
class RecordEvent:
    """One upsert or void of a registry record, as published on a registry topic."""

    registry: str
    record_id: str
    revision: int
    action: str  # "upsert" or "void"
    data: Mapping[str, Any] | None = None


def active_records(events: Iterable[RecordEvent]) -> tuple[RegistryRecord, ...]:
    """Fold events into the active records: the highest revision wins whatever the order.

    A void at the highest revision withdraws the record; a stale event (revision not above
    the one already seen) changes nothing, so arrival order does not matter.
    """
    latest: dict[tuple[str, str], RecordEvent] = {}
    for event in events:
        if event.action not in ("upsert", "void"):
            raise ValueError(f"unknown action {event.action!r} for {event.record_id!r}")
        key = (event.registry, event.record_id)
        seen = latest.get(key)
        if seen is None or event.revision > seen.revision:
            latest[key] = event
    return tuple(
        RegistryRecord(e.registry, e.record_id, e.revision, e.data or {})
        for key, e in sorted(latest.items())
        if e.action == "upsert"
    )
