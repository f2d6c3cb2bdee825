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
