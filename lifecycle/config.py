"""The lifecycle's settings, checked once: the machine's policy and the gateway stub's."""

from __future__ import annotations

import dataclasses

from core.settings import Settings, SettingsError
from lifecycle.rules.common import Policy
from lifecycle.schedule import parse_days
from tax.parameters.model import ParameterSet

STUB_MODES = ("success", "decline", "timeout", "delay")


@dataclasses.dataclass(frozen=True, slots=True)
class LifecycleConfig:
    reminder_days: tuple[int, ...]
    payment_reminder_days: tuple[int, ...]
    dispute_working_days: int
    timer_interval_s: float
    reconcile_interval_s: float
    stub_mode: str
    stub_delay_s: float
    stub_overrides: dict[str, str]

    @classmethod
    def from_settings(cls, settings: Settings) -> LifecycleConfig:
        try:
            reminders = parse_days(settings.reminder_days)
            payment_reminders = parse_days(settings.payment_reminder_days)
        except ValueError:
            raise SettingsError(
                "PROACTAX_REMINDER_DAYS and PROACTAX_PAYMENT_REMINDER_DAYS are positive whole "
                "days, comma-separated, e.g. 30,7,1"
            ) from None
        if settings.dispute_response_working_days < 1:
            raise SettingsError("PROACTAX_DISPUTE_RESPONSE_WORKING_DAYS must be at least 1")
        if settings.lifecycle_timer_interval_s <= 0 or settings.payment_reconcile_interval_s <= 0:
            raise SettingsError("the lifecycle timer and reconcile intervals must be positive")
        overrides: dict[str, str] = {}
        for item in settings.payment_stub_overrides.split(","):
            if not item.strip():
                continue
            pinfl, _, mode = item.strip().partition("=")
            if mode not in STUB_MODES:
                raise SettingsError(
                    f"PROACTAX_PAYMENT_STUB_OVERRIDES: {item!r} is not PINFL=<one of "
                    f"{', '.join(STUB_MODES)}>"
                )
            overrides[pinfl] = mode
        if settings.payment_stub_mode not in STUB_MODES:
            raise SettingsError(
                f"PROACTAX_PAYMENT_STUB_MODE must be one of {', '.join(STUB_MODES)}"
            )
        if settings.payment_stub_delay_s < 0:
            raise SettingsError("PROACTAX_PAYMENT_STUB_DELAY_S must not be negative")
        return cls(
            reminder_days=reminders,
            payment_reminder_days=payment_reminders,
            dispute_working_days=settings.dispute_response_working_days,
            timer_interval_s=settings.lifecycle_timer_interval_s,
            reconcile_interval_s=settings.payment_reconcile_interval_s,
            stub_mode=settings.payment_stub_mode,
            stub_delay_s=settings.payment_stub_delay_s,
            stub_overrides=overrides,
        )

    def policy(self, parameters: ParameterSet) -> Policy:
        return Policy(
            parameters=parameters,
            reminder_days=self.reminder_days,
            payment_reminder_days=self.payment_reminder_days,
            dispute_working_days=self.dispute_working_days,
        )
