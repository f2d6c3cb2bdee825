"""The ingest API's event validation: exactly the stream's (``agents/registry_ingest.py``).

Everything goes through ``EventValidator``, so a change of ``decode_event``'s signature is
a one-line edit here.
"""

from __future__ import annotations

from contracts.registry_events import EventRejected, RegistryEvent, decode_event
from proactax.settings import Settings
from tax import RegistryRecord, facts_from_records
from tax.errors import TaxError


class EventValidator:
    """Validates the raw bytes of one event for one registry, as the stream agent does."""

    def __init__(self, settings: Settings) -> None:
        self._policy = range(settings.tax_year_min, settings.tax_year_max + 1)

    def __call__(self, raw: bytes, registry: str) -> RegistryEvent:
        """The decoded event, or ``EventRejected`` with the stream's reason code."""
        try:
            decoded = decode_event(raw, registry, self._policy)
        except UnicodeError as exc:  # e.g. a lone surrogate escape: not valid UTF-8 text
            raise EventRejected("not_json", f"The value is not UTF-8 JSON: {exc}.") from exc
        # The stream agent also checks the record's data with the engine's own reader
        # before it keeps it (agents/registry_ingest.py ``decode``); the API must agree.
        if decoded.tax_year is not None and decoded.data is not None:
            try:
                facts_from_records(
                    decoded.pinfl,
                    decoded.tax_year,
                    [
                        RegistryRecord(
                            decoded.registry, decoded.record_id, decoded.revision, decoded.data
                        )
                    ],
                )
            except TaxError as exc:
                raise EventRejected("schema", str(exc), getattr(exc, "field", None)) from exc
        return decoded
