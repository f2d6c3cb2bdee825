"""How a partition's store keeps the ledgers: an entry per record and per event id.

A ledger (agents/ledger.py) is one JSON document in memory, but it is not stored as one:
an event's fold reads and changes two of its entries (its event id's digest, its
record's newest revision), so only those two are read and written. Kept whole, a
resident's ledger was read, decoded, encoded, sent to the changelog and compacted by
RocksDB again at every event: ≈ 4 KB a write where the change is ≈ 0.5 KB, and a
taxpayer with n events cost O(n²) bytes (docs/benchmarks.md, "A ledger's entries").

Keys of the ledger store (a ledger key is ``"<year>:<pinfl>"``, agents/ledger.py):

- ``"<year>:<pinfl>\\x1f<registry>/<record_id>"``: a ``RecordState``. Under the year's
  prefix, so a release's walk by ``"<year>:"`` reads the records, ledger by ledger
  (``\\x1f`` sorts before every character of a PINFL: a ledger's entries come together).
- ``"events/<year>:<pinfl>\\x1f<registry>:<event_id>"``: the event's content digest,
  outside every year's prefix: a release never reads them.
- ``"<year>:<pinfl>"``: a ledger a worker wrote whole before this layout. It is read
  (its entries under the ones written since) and never written again, so a store
  restored from an old changelog needs no migration.
- ``"published/<year>:<pinfl>"``: the last version published (agents/ledger.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from agents.ledger import Ledger, RecordState, empty_ledger, event_key
from contracts.registry_events import RegistryEvent

SEPARATOR = "\x1f"  # below every printable character: "<ledger key>\x1f…" sort together
EVENTS = "events/"


class Store(Protocol):
    """A partition's table (streams/state.py's Overlay): reads see the batch's writes."""

    def get(self, key: str) -> Any: ...

    def put(self, key: str, value: Any) -> None: ...

    def items(self, prefix: str = "", after: str | None = None) -> Iterator[tuple[str, Any]]: ...


def record_key(event: RegistryEvent) -> str:
    """The key of an event's record inside a ledger (agents/ledger.py)."""
    return f"{event.registry}/{event.record_id}"


def record_entry(key: str, record: str) -> str:
    return f"{key}{SEPARATOR}{record}"


def event_entry(key: str, event: str) -> str:
    return f"{EVENTS}{key}{SEPARATOR}{event}"


def ledger_of_entry(entry: str) -> str:
    """The ledger key an entry (or a ledger written whole) belongs to."""
    return entry.split(SEPARATOR, 1)[0]


class EventView:
    """The part of a ledger one event's fold reads, and what the fold changed in it."""

    def __init__(self, key: str, event: RegistryEvent, ledger: Ledger) -> None:
        self.key = key
        self.event = event_key(event)
        self.record = record_key(event)
        self.ledger = ledger
        self.digest = ledger["events"].get(self.event)
        self.held = ledger["records"].get(self.record)


class LedgerEntries:
    """The ledgers of one partition's store, entry by entry."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _whole(self, key: str) -> Ledger | None:
        """A ledger written whole before the entries, if the store has one."""
        held: Ledger | None = self.store.get(key)
        return held

    def for_event(self, key: str, event: RegistryEvent) -> EventView:
        """The ledger ``key`` as far as ``event``'s fold reads it: the digest held for its
        event id and its record's newest revision (agents/ledger.py ``apply_event``)."""
        events_key, records_key = event_key(event), record_key(event)
        digest = self.store.get(event_entry(key, events_key))
        record = self.store.get(record_entry(key, records_key))
        if digest is None or record is None:
            whole = self._whole(key)
            if whole is not None:
                digest = digest if digest is not None else whole["events"].get(events_key)
                record = record if record is not None else whole["records"].get(records_key)
        ledger = empty_ledger()
        if digest is not None:
            ledger["events"][events_key] = digest
        if record is not None:
            ledger["records"][records_key] = record
        return EventView(key, event, ledger)

    def save(self, view: EventView) -> None:
        """Write the entries the fold changed (a digest recorded, a record replaced)."""
        digest = view.ledger["events"].get(view.event)
        if digest != view.digest:
            self.store.put(event_entry(view.key, view.event), digest)
        record = view.ledger["records"].get(view.record)
        if record is not view.held:
            self.store.put(record_entry(view.key, view.record), record)

    def records_of(self, key: str) -> Ledger:
        """The ledger ``key`` with every record (its event ids are not read: computing a
        return needs the records only)."""
        ledger = empty_ledger()
        whole = self._whole(key)
        if whole is not None:
            ledger["records"].update(whole["records"])
        prefix = f"{key}{SEPARATOR}"
        for entry, record in self.store.items(prefix):
            ledger["records"][entry[len(prefix) :]] = record
        return ledger

    def of_year(self, prefix: str, after: str | None) -> Iterator[tuple[str, Ledger]]:
        """Every ledger under a year's ``prefix`` after the ledger key ``after``, in key
        order, with its records: one walk of the store, the entries grouped by ledger."""
        key: str | None = None
        ledger = empty_ledger()
        for entry, value in self.store.items(prefix, after):
            owner = ledger_of_entry(entry)
            if after is not None and owner <= after:
                continue  # the entries of ``after`` itself: its key sorts before them
            if owner != key:
                if key is not None:
                    yield key, ledger
                key, ledger = owner, empty_ledger()
            if entry == owner:  # written whole: its records under the entries after it
                ledger["records"].update(_records(value))
            else:
                ledger["records"][entry[len(owner) + 1 :]] = value
        if key is not None:
            yield key, ledger


def _records(whole: Any) -> dict[str, RecordState]:
    records: dict[str, RecordState] = whole["records"]
    return records
