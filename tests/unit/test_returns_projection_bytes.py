"""The returns projection stores a ``returns.v1`` value as it read it off the topic: the
row's columns come from a partial decode, the payload is the topic's bytes. A reader sees
the same return, and the same columns, as when the value is stored from a dict."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from storage.database import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.returns_repository import EncodedReturn, ReturnsRepository
from tests.support.query_plans import SelectPlans
from tests.unit.notifier.harness import return_value

NOW = datetime(2027, 1, 10, tzinfo=UTC)
COLUMNS = (
    "return_id",
    "pinfl",
    "tax_year",
    "version",
    "computed_at",
    "rules_version",
    "reproducibility_hash",
    "declaration_required",
    "tax_computed_tiyin",
    "tax_credited_tiyin",
    "balance_tiyin",
    "payload",
)


@pytest.fixture
def repository(tmp_path: Path) -> ReturnsRepository:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    upgrade(url)
    return ReturnsRepository(make_session_factory(make_engine(url)))


def row(repository: ReturnsRepository, pinfl: str) -> dict[str, Any]:
    latest = repository.latest(pinfl, 2026)
    assert latest is not None
    return {c: getattr(latest, c) for c in COLUMNS}


def test_bytes_off_the_topic_store_the_same_row_as_the_dict(
    repository: ReturnsRepository,
) -> None:
    value = return_value()
    other = dict(return_value(pinfl="30101845539674", return_id="r-2"))
    other["totals"] = dict(other["totals"], balance_tiyin=-1_500, tax_computed_tiyin=9)
    other["declaration_required"] = True
    assert repository.save_versions([value], NOW) == 1
    wire = orjson.dumps(other, option=orjson.OPT_NON_STR_KEYS)
    assert repository.save_versions([EncodedReturn.decode(wire)], NOW) == 1
    assert row(repository, value["pinfl"])["payload"] == value
    stored = row(repository, other["pinfl"])
    assert stored["payload"] == other
    assert stored["balance_tiyin"] == -1_500 and stored["tax_computed_tiyin"] == 9
    assert stored["declaration_required"] is True
    # the same version again, as bytes: skipped like a dict would be
    assert repository.save_versions([EncodedReturn.decode(wire)], NOW) == 0


def test_what_is_no_return_is_refused() -> None:
    with pytest.raises(ValueError):
        EncodedReturn.decode(b'{"pinfl": 1}')
    with pytest.raises(ValueError):
        EncodedReturn.decode(b"not json")


def test_versions_are_told_apart_by_pinfl_year_and_version_through_the_key_not_a_scan(
    tmp_path: Path,
) -> None:
    """A row-value IN over (pinfl, tax_year, version) once made SQLite scan return_versions
    for every batch (quadratic in the population). Now a write looks nothing up: the
    unique key skips a held version (``ON CONFLICT … DO NOTHING``), and the three columns
    still tell versions apart; the reads go through the key too."""
    url = f"sqlite:///{tmp_path / 'plan.db'}"
    upgrade(url)
    engine = make_engine(url)
    lookups = SelectPlans(engine, tmp_path / "plan.db", "return_versions")

    repository = ReturnsRepository(make_session_factory(engine))
    first, other = return_value(), return_value(pinfl="30101845539674", return_id="r-2")
    assert repository.save_versions([first, other], NOW) == 2
    second = return_value(version=2, return_id="r-3")
    next_year = dict(return_value(return_id="r-4"), tax_year=2027)
    assert repository.save_versions([first, second, next_year], NOW) == 2  # first: held
    assert lookups.seen == []  # the writes read nothing back
    assert [v.version for v in repository.versions(first["pinfl"], 2026)] == [1, 2]
    assert repository.latest(first["pinfl"], 2027) is not None
    for plan in lookups.plans():
        assert "SCAN return_versions" not in plan, plan
