"""The people projection: highest revision wins, a void is a tombstone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from storage.database import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.people import PeopleRepository, PersonUpdate

NOW = datetime(2027, 1, 10, tzinfo=UTC)
PINFL = "31403850261230"


def person(phone: str) -> dict[str, str]:
    return {
        "full_name": "Aziz Karimov",
        "birth_date": "1985-03-14",
        "sex": "M",
        "region_code": "SAM",
        "phone": phone,
        "preferred_language": "uz-Latn",
    }


def repository(tmp_path: Path) -> PeopleRepository:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    upgrade(url)
    return PeopleRepository(make_session_factory(make_engine(url)))


def test_highest_revision_wins_in_any_order(tmp_path: Path) -> None:
    people = repository(tmp_path)
    people.apply([PersonUpdate(PINFL, 2, person("+998901112233"))], NOW)
    assert people.apply([PersonUpdate(PINFL, 1, person("+998900000000"))], NOW) == 0
    assert people.get(PINFL).phone == "+998901112233"
    assert [p.pinfl for p in people.by_phone("+998901112233")] == [PINFL]


def test_a_void_hides_the_person_and_stays(tmp_path: Path) -> None:
    people = repository(tmp_path)
    people.apply(
        [PersonUpdate(PINFL, 1, person("+998901112233")), PersonUpdate(PINFL, 3, None)], NOW
    )
    assert people.get(PINFL) is None
    people.apply([PersonUpdate(PINFL, 2, person("+998901112233"))], NOW)
    assert people.get(PINFL) is None
    assert people.by_phone("+998901112233") == []
