"""What became of an event a registry published: its receipt (issue 17 item 7).

Receipts come from the worker (``registry.<registry>.receipts.v1``, projected into the
database by agents/receipts_projection.py). An event the HTTP API accepted whose receipt is
not in yet is ``pending``; an event this registry never published, or another registry's,
is unknown (the API answers 404 and never says that another registry's event exists).
"""

from __future__ import annotations

import dataclasses

from storage.api_keys import AcceptedEventRepository
from storage.receipts import ReceiptRecord, ReceiptRepository


@dataclasses.dataclass(frozen=True, slots=True)
class Receipt:
    event_id: str
    registry: str
    status: str  # accepted, duplicate, superseded, dead_lettered, already_closed, pending
    record_id: str | None = None
    revision: int | None = None
    reason_code: str | None = None
    field: str | None = None
    reason: str | None = None
    at: str | None = None


class ReceiptService:
    def __init__(self, receipts: ReceiptRepository, accepted: AcceptedEventRepository) -> None:
        self._receipts = receipts
        self._accepted = accepted

    def get(self, registry: str, event_id: str) -> Receipt | None:
        found: ReceiptRecord | None = self._receipts.get(registry, event_id)
        if found is not None:
            return Receipt(**dataclasses.asdict(found))
        held = self._accepted.lookup(registry, [event_id]).get(event_id)
        if held is not None and held.published:
            return Receipt(event_id, registry, "pending")
        return None
