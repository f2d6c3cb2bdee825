"""Receipts and each registry's own dead letters (issue 17): pure decisions, no I/O.

What became of an event, from the ledger fold's outcome (agents/ledger.py):
- applied ► ``accepted``; and if it replaced another event's revision of the record, that
  event gets ``superseded`` (naming the new revision);
- stale (an older revision arriving after a newer one) ► ``superseded``;
- duplicate ► ``duplicate``;
- conflict ► ``dead_lettered`` (reason ``conflict``, naming the reused ``event_id`` or the
  reused ``revision`` with the message of the HTTP 409);
- refused by validation ► ``dead_lettered`` with the dead letter's reason.

Who owns a dead letter: the registry of the topic the message came from; on the shared
topics (``registry.period_closed.v1``, ``disputes.responses.v1``) the registry named by the
Kafka key. A message that names no registry goes to the staff's ``registry.deadletter.v1``
only (docs/integrators.md §8).
"""

from __future__ import annotations

from typing import Any

from agents.ledger import record_key
from contracts.receipts import EVENT_ID_CONFLICT, revision_conflict
from contracts.registry_events import RegistryEvent
from contracts.topics import REGISTRIES, owner_of


def held_record(ledger: Any, event: RegistryEvent) -> Any:
    """The ledger's record of this event's ``record_id`` (agents/ledger.py keys records by
    ``"<registry>/<record_id>"``), before the event is folded; None when new."""
    return ledger["records"].get(record_key(event.registry, event.record_id))


def conflict(ledger: Any, event: RegistryEvent) -> tuple[str, str]:
    """(field, reason) of a ``conflict`` fold, read after the fold: a reused event_id left
    the ledger's digest of that id unchanged (another content); a reused revision recorded
    the new event_id with this event's digest, and the record still names the first."""
    if ledger["events"].get(f"{event.registry}:{event.event_id}") != event.content_digest:
        return "event_id", EVENT_ID_CONFLICT
    held = held_record(ledger, event)
    other = held["event_id"] if held is not None else "?"
    return "revision", revision_conflict(event.revision, event.record_id, other)


def owner(topic: str, key: bytes | None, namespace: str) -> str | None:
    """The registry a refused message belongs to, or None (the staff's dead letters only)."""
    registry = owner_of(topic, namespace)
    if registry is not None:
        return registry
    try:
        name = (key or b"").decode("ascii")
    except UnicodeDecodeError:
        return None
    return name if name in REGISTRIES else None
