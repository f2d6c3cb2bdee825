"""What a rejected event is: ``EventRejected`` (the dead letter's reason_code, sentence and
field), ``Problem`` (the same with its path, for ordering) and ``ValidationPolicy``."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

INT64_MAX = 2**63 - 1


class EventRejected(ValueError):
    """An event that goes to the dead letters: reason_code, a human sentence, the field."""

    def __init__(self, reason_code: str, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason_code = reason_code
        self.reason = reason
        self.field = field

    def __repr__(self) -> str:
        return f"EventRejected({self.reason_code!r}, {self.reason!r}, {self.field!r})"


@dataclasses.dataclass(frozen=True, slots=True)
class ValidationPolicy:
    """What the service accepts beyond the schema; built from settings once per process."""

    tax_years: range
    pinfl_check_digit: bool = True
    max_event_bytes: int = 65536
    money_ceiling_tiyin: int = 10**15

    def __post_init__(self) -> None:
        if not self.tax_years or self.tax_years.step != 1:
            raise ValueError(f"tax_years must be a non-empty range of years: {self.tax_years}")
        if self.max_event_bytes < 1:
            raise ValueError("max_event_bytes must be at least 1")
        if not 0 <= self.money_ceiling_tiyin <= INT64_MAX:
            raise ValueError(f"money_ceiling_tiyin must be within 0..{INT64_MAX}")

    @classmethod
    def from_settings(cls, settings: Any) -> ValidationPolicy:
        """From ``core.settings.Settings`` (typed as Any: contracts import no settings)."""
        return cls(
            tax_years=range(settings.tax_year_min, settings.tax_year_max + 1),
            pinfl_check_digit=settings.pinfl_check_digit,
            max_event_bytes=settings.max_event_bytes,
            money_ceiling_tiyin=settings.money_ceiling_tiyin,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    reason_code: str
    field: str | None
    reason: str
    path: tuple[str | int, ...] = ()

    def rejected(self) -> EventRejected:
        return EventRejected(self.reason_code, self.reason, self.field)


def dotted(path: Sequence[str | int]) -> str:
    """``("data", "month")`` -> ``data.month``; unknown keys are cut to 64 characters."""
    return ".".join(str(p) if len(str(p)) <= 64 else f"{str(p)[:64]}..." for p in path)
