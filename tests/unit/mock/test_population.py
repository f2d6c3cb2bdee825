"""The synthetic population: well-formed, unique, deterministic, with realistic shares."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date

import pytest

from contracts.validation import pinfl_check_digit_ok
from devtools.registries_mock.population import AGE_BANDS, REGION_WEIGHTS
from devtools.registries_mock.season import Season, generate_season

E164_UZ = re.compile(r"\+998\d{9}")


def _share(count: int, total: int) -> float:
    return count / total


def test_the_same_seed_gives_the_same_bytes_and_another_seed_does_not() -> None:
    one = generate_season(150, 2026, seed=3, faults=True)
    two = generate_season(150, 2026, seed=3, faults=True)
    three = generate_season(150, 2026, seed=4, faults=True)
    assert [(e.key, e.payload) for e in one.events] == [(e.key, e.payload) for e in two.events]
    assert one.oracle == two.oracle and one.dead_letters == two.dead_letters
    assert [e.payload for e in one.events] != [e.payload for e in three.events]


def test_faults_break_the_same_people(clean_season: Season, faulty_season: Season) -> None:
    def who(season: Season) -> dict[str, tuple[str, str]]:
        return {p["pinfl"]: (p["full_name"], p["birth_date"]) for p in season.people}

    assert who(clean_season) == who(faulty_season)


def test_pinfls_are_unique_and_well_formed(clean_season: Season) -> None:
    pinfls = [p["pinfl"] for p in clean_season.people]
    assert len(set(pinfls)) == len(pinfls)
    for person in clean_season.people:
        pinfl, birth = person["pinfl"], date.fromisoformat(person["birth_date"])
        assert re.fullmatch(r"\d{14}", pinfl) and pinfl_check_digit_ok(pinfl)
        century = 3 if birth.year < 2000 else 5
        assert int(pinfl[0]) == century + (person["sex"] == "F")
        assert pinfl[1:7] == birth.strftime("%d%m%y")


def test_people_are_adults_with_phones(clean_season: Season) -> None:
    end = date(clean_season.tax_year, 12, 31)
    ages = Counter()
    for person in clean_season.people:
        born = date.fromisoformat(person["birth_date"])
        age = end.year - born.year - ((end.month, end.day) < (born.month, born.day))
        band = next(i for i, (low, high, _) in enumerate(AGE_BANDS) if low <= age <= high)
        ages[band] += 1
        assert E164_UZ.fullmatch(person["phone"]), person["phone"]
        assert person["full_name"] == person["full_name"].strip() and " " in person["full_name"]
    total = len(clean_season.people)
    for band, (_, _, weight) in enumerate(AGE_BANDS):
        assert _share(ages[band], total) == pytest.approx(weight, abs=0.03)


def test_regions_sex_and_languages_have_plausible_shares(clean_season: Season) -> None:
    people = clean_season.people
    total = len(people)
    regions = Counter(p["region_code"] for p in people)
    weight_sum = sum(REGION_WEIGHTS.values())
    for region, weight in REGION_WEIGHTS.items():
        assert _share(regions[region], total) == pytest.approx(weight / weight_sum, abs=0.02)
    assert _share(sum(p["sex"] == "F" for p in people), total) == pytest.approx(0.5, abs=0.04)

    def languages(region: str) -> Counter[str]:
        return Counter(p["preferred_language"] for p in people if p["region_code"] == region)

    karakalpak, tashkent, fergana = languages("KAR"), languages("TAS_CITY"), languages("FER")
    assert karakalpak.most_common(1)[0][0] == "kaa"
    assert _share(tashkent["ru"], tashkent.total()) > 0.3
    assert fergana.most_common(1)[0][0] == "uz-Latn" and fergana["kaa"] == 0
    assert set(Counter(p["preferred_language"] for p in people)) == {
        "uz-Latn",
        "uz-Cyrl",
        "ru",
        "en",
        "kaa",
    }


def test_income_shares_are_realistic(clean_season: Season) -> None:
    total = len(clean_season.people)
    having: dict[str, set[str]] = {}
    employers: Counter[int] = Counter()
    for (pinfl, _), records in clean_season.oracle.items():
        tins = set()
        for key, (_, data) in records.items():
            registry = key.split("/", 1)[0]
            having.setdefault(registry, set()).add(pinfl)
            if registry == "payroll":
                tins.add(data["employer_tin"])
        if tins:
            employers[len(tins)] += 1
    assert _share(len(having["payroll"]), total) == pytest.approx(0.60, abs=0.04)
    assert _share(len(having["rental"]), total) == pytest.approx(0.05, abs=0.015)
    assert _share(len(having["property_sale"]), total) == pytest.approx(0.01, abs=0.006)
    assert _share(len(having["dividend"]), total) == pytest.approx(0.03, abs=0.01)
    assert _share(len(having["deduction"]), total) == pytest.approx(0.15, abs=0.03)
    several = sum(n for k, n in employers.items() if k >= 2)
    assert 0.08 < several / employers.total() < 0.30  # second jobs and job changes
