"""The per-(PINFL, tax year) ledger of registry records, folded from events.

Pure: no faust, no I/O. The stream keeps a ``Ledger`` as a plain JSON-able dict in an
on-disk, changelog-backed store (streams/state.py); these functions are the only code
that reads or changes it.

Rules (CONTRACT.md):
- a repeated ``event_id`` with the same content is ignored; with other content it is a
  ``conflict`` (dead letter);
- per ``(registry, record_id)`` the highest ``revision`` wins whatever the arrival order,
  so a void is kept as a tombstone: an older upsert arriving after it stays ignored;
- the same revision twice with different content is a ``conflict`` too: the registry
  broke its own rule that revisions grow with every change.
"""

from __future__ import annotations

import enum
from typing import Any, TypedDict

from contracts.registry_events import RegistryEvent
from tax.records import RegistryRecord


class RecordState(TypedDict):
    """The newest revision of one record, under its key ``"<registry>/<record_id>"``.

    The key names the record and the ledger's ``events`` hold each event's content digest,
    so neither is repeated here: a third of a ledger's bytes, read and written at every
    fold, in RocksDB and in the changelog (docs/benchmarks.md, fifteenth session). Records
    written before keep ``registry``, ``record_id`` and ``content_digest`` beside these
    fields; nothing reads them."""

    revision: int
    action: str
    data: dict[str, Any] | None
    event_id: str


class Ledger(TypedDict):
    records: dict[str, RecordState]  # "<registry>/<record_id>" -> newest revision
    events: dict[str, str]  # "<registry>:<event_id>" -> content digest


class Published(TypedDict):
    """The last version published for a (PINFL, year), kept under a key of its own
    (``published_key``) in the same store: computing a return changes these few bytes,
    and the ledger (every record's data) is not written again for it."""

    version: int
    fingerprint: str


class FoldResult(enum.Enum):
    APPLIED = "applied"  # the ledger changed
    DUPLICATE = "duplicate"  # replay of an event already folded in
    STALE = "stale"  # an older revision than the one held: ignored
    CONFLICT = "conflict"  # event_id or revision reused with other content


def empty_ledger() -> Ledger:
    return {
        "records": {},
        "events": {},
    }


def event_key(event: RegistryEvent) -> str:
    return f"{event.registry}:{event.event_id}"


def record_key(registry: str, record_id: str) -> str:
    return f"{registry}/{record_id}"


def ledger_key(pinfl: str, tax_year: int) -> str:
    """Year first: a year's release walks its partition's store by the prefix "<year>:"."""
    return f"{tax_year}:{pinfl}"


def published_key(key: str) -> str:
    """The ``Published`` of a ledger key; outside every year's prefix, so a release's
    walk by "<year>:" meets ledgers only."""
    return f"published/{key}"


def year_prefix(tax_year: int) -> str:
    return f"{tax_year}:"


def split_ledger_key(key: str) -> tuple[str, int]:
    """``ledger_key`` back to (pinfl, tax year)."""
    year, pinfl = key.split(":", 1)
    return pinfl, int(year)


def apply_event(ledger: Ledger, event: RegistryEvent) -> FoldResult:
    """Fold one valid event into ``ledger`` in place and say what happened."""
    event_at = event_key(event)
    seen = ledger["events"].get(event_at)
    if seen is not None:
        return FoldResult.DUPLICATE if seen == event.content_digest else FoldResult.CONFLICT
    ledger["events"][event_at] = event.content_digest

    record_at = record_key(event.registry, event.record_id)
    held = ledger["records"].get(record_at)
    if held is not None:
        if event.revision < held["revision"]:
            return FoldResult.STALE
        if event.revision == held["revision"]:
            same = held["action"] == event.action and held["data"] == event.data
            return FoldResult.DUPLICATE if same else FoldResult.CONFLICT
    ledger["records"][record_at] = {
        "revision": event.revision,
        "action": event.action,
        "data": event.data,
        "event_id": event.event_id,
    }
    return FoldResult.APPLIED


def active_records(ledger: Ledger) -> list[RegistryRecord]:
    """The records that count: newest revision of each, voids left out, in a stable order
    (by key: registry, then record_id)."""
    active = []
    for key, record in sorted(ledger["records"].items()):
        if record["action"] == "upsert":
            registry, record_id = key.split("/", 1)  # a registry's name holds no "/"
            active.append(
                RegistryRecord(registry, record_id, record["revision"], record["data"] or {})
            )
    return active
