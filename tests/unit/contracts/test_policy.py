"""ValidationPolicy: built from settings, defaults equal to the settings' defaults."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from contracts.registry_events import MAX_EVENT_BYTES, ValidationPolicy
from core.settings import Settings


def test_from_settings_reads_every_field(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "PROACTAX_RUN_DIR": str(tmp_path),
            "PROACTAX_TAX_YEAR_MIN": "2024",
            "PROACTAX_TAX_YEAR_MAX": "2025",
            "PROACTAX_PINFL_CHECK_DIGIT": "false",
            "PROACTAX_MAX_EVENT_BYTES": "1000",
            "PROACTAX_MONEY_CEILING_TIYIN": "500",
        }
    )
    assert ValidationPolicy.from_settings(settings) == ValidationPolicy(
        tax_years=range(2024, 2026),
        pinfl_check_digit=False,
        max_event_bytes=1000,
        money_ceiling_tiyin=500,
    )


def test_the_defaults_are_the_settings_defaults(tmp_path: Path) -> None:
    settings = Settings.from_env({"PROACTAX_RUN_DIR": str(tmp_path)})
    policy = ValidationPolicy.from_settings(settings)
    assert dataclasses.replace(policy) == ValidationPolicy(policy.tax_years)
    assert policy.max_event_bytes == MAX_EVENT_BYTES == 65536
    assert policy.money_ceiling_tiyin == 10**15
    assert policy.pinfl_check_digit is True


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tax_years": range(2027, 2026)},
        {"tax_years": range(2020, 2030, 2)},
        {"tax_years": range(2026, 2027), "max_event_bytes": 0},
        {"tax_years": range(2026, 2027), "money_ceiling_tiyin": -1},
        {"tax_years": range(2026, 2027), "money_ceiling_tiyin": 2**63},
    ],
)
def test_a_nonsense_policy_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ValidationPolicy(**kwargs)  # type: ignore[arg-type]
