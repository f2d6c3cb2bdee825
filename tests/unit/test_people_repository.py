"""The people projection: highest revision wins, a void is a tombstone."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from agents.projection import PEOPLE_BATCH_SIZE
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


@pytest.fixture
def people(database_url: str) -> PeopleRepository:
    """On SQLite and PostgreSQL: the revision is compared by the database itself
    (``ON CONFLICT … WHERE excluded.revision > people.revision``)."""
    upgrade(database_url)
    return PeopleRepository(make_session_factory(make_engine(database_url)))


def test_highest_revision_wins_in_any_order(people: PeopleRepository) -> None:
    people.apply([PersonUpdate(PINFL, 2, person("+998901112233"))], NOW)
    assert people.apply([PersonUpdate(PINFL, 1, person("+998900000000"))], NOW) == 0
    assert people.apply([PersonUpdate(PINFL, 2, person("+998900000000"))], NOW) == 0  # held
    assert people.get(PINFL).phone == "+998901112233"
    # a higher revision replaces it, the highest of a batch wins, and a new person is added
    changed = people.apply(
        [
            PersonUpdate(PINFL, 4, person("+998904444444")),
            PersonUpdate(PINFL, 3, person("+998903333333")),
            PersonUpdate("31403850261231", 1, person("+998905555555")),
        ],
        NOW,
    )
    assert changed == 2
    assert people.get(PINFL).phone == "+998904444444"
    assert people.get(PINFL).revision == 4
    people.apply([PersonUpdate(PINFL, 2, person("+998901112233"))], NOW)
    assert people.get(PINFL).phone == "+998904444444"
    assert [p.pinfl for p in people.by_phone("+998904444444")] == [PINFL]


def test_a_void_hides_the_person_and_stays(people: PeopleRepository) -> None:
    people.apply(
        [PersonUpdate(PINFL, 1, person("+998901112233")), PersonUpdate(PINFL, 3, None)], NOW
    )
    assert people.get(PINFL) is None
    people.apply([PersonUpdate(PINFL, 2, person("+998901112233"))], NOW)
    assert people.get(PINFL) is None
    assert people.by_phone("+998901112233") == []


def test_a_projection_batch_of_random_people_is_written_whole(people: PeopleRepository) -> None:
    """The people projection writes ``PEOPLE_BATCH_SIZE`` updates in one transaction
    (agents/projection.py): random PINFLs, some twice in the batch (the higher revision
    counts), on both databases (PostgreSQL's parameter limit, SQLite's page cache)."""
    rng = random.Random(3)
    pinfls = [str(rng.randrange(10**13, 10**14)) for _ in range(PEOPLE_BATCH_SIZE - 100)]
    updates = [PersonUpdate(p, 1, person(f"+9989{rng.randrange(10**8):08d}")) for p in pinfls]
    again = rng.sample(pinfls, 100)
    updates += [PersonUpdate(p, 2, person("+998900000002")) for p in again]
    rng.shuffle(updates)
    assert len(updates) == PEOPLE_BATCH_SIZE
    assert people.apply(updates, NOW) == len(set(pinfls))
    assert {people.get(p).phone for p in again} == {"+998900000002"}
    assert people.get(pinfls[0]) is not None
