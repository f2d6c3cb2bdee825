"""The ingest API's event validation: exactly the stream's (``agents/ingest_batch.py``).

Everything goes through ``EventValidator``; ``validation_policy`` is the one place that
knows how ``decode_event`` is configured.
"""

from __future__ import annotations

from contracts.registry_events import (
    Problem,
    RegistryEvent,
    ValidationPolicy,
    decode_event,
    event_problems,
)
from core.settings import Settings


def validation_policy(settings: Settings) -> ValidationPolicy:
    """The stream's policy for these settings."""
    return ValidationPolicy.from_settings(settings)


class EventValidator:
    """Validates the raw bytes of one event for one registry, as the stream agent does."""

    def __init__(self, settings: Settings) -> None:
        self._policy = validation_policy(settings)

    @property
    def max_event_bytes(self) -> int:
        return self._policy.max_event_bytes

    def __call__(self, raw: bytes, registry: str) -> RegistryEvent:
        """The decoded event, or ``EventRejected`` with the stream's reason code."""
        return decode_event(raw, registry, self._policy)

    def problems(self, raw: bytes, registry: str) -> list[Problem]:
        """Every problem of an event (the 422 lists them); the first is the stream's reason."""
        return event_problems(raw, registry, self._policy)
