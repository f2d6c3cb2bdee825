"""One large faulty season and one clean season, built once for the mock's unit tests."""

from __future__ import annotations

import pytest

from devtools.registries_mock.season import Season, generate_season

LARGE = 3000  # people: every fault kind many times, shares measurable


@pytest.fixture(scope="session")
def faulty_season() -> Season:
    return generate_season(LARGE, 2026, seed=20260, id_prefix="unit", faults=True)


@pytest.fixture(scope="session")
def clean_season() -> Season:
    return generate_season(LARGE, 2026, seed=20260, id_prefix="unit")
