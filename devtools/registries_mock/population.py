"""Synthetic residents: who they are, where they live, how to reach them.

Shares are rough public figures, good enough for load and dashboard tests, not statistics:
regions weighted by population (millions, 2024 estimates), sex about 50/50, adult age
bands of a young country, preferred languages by region (Karakalpakstan more Karakalpak,
Tashkent city more Russian; older people more often read Uzbek in Cyrillic), mobile
numbers of the Uzbek operators in E.164, names in Latin or Cyrillic script.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any, TypeVar

from devtools.registries_mock.pinfl import make_pinfl

T = TypeVar("T")

# region code -> population in millions (approximate)
REGION_WEIGHTS: dict[str, float] = {
    "TAS_CITY": 3.0,
    "TAS": 3.0,
    "AND": 3.4,
    "BUK": 2.0,
    "FER": 4.0,
    "JIZ": 1.5,
    "KAS": 3.5,
    "KHO": 2.0,
    "NAM": 3.0,
    "NAV": 1.1,
    "SAM": 4.2,
    "SIR": 0.9,
    "SUR": 2.8,
    "KAR": 2.0,
}
REGIONS = tuple(REGION_WEIGHTS)

# Adult age bands (age on 31 December of the tax year) and their shares of adults.
AGE_BANDS: tuple[tuple[int, int, float], ...] = (
    (18, 24, 0.15),
    (25, 34, 0.25),
    (35, 44, 0.21),
    (45, 54, 0.15),
    (55, 64, 0.13),
    (65, 85, 0.11),
)

LANGUAGES = ("uz-Latn", "uz-Cyrl", "ru", "en", "kaa")
_LANGUAGE_SHARES: dict[str, tuple[float, ...]] = {  # in the order of LANGUAGES
    "TAS_CITY": (0.45, 0.09, 0.42, 0.04, 0.00),
    "KAR": (0.30, 0.05, 0.19, 0.01, 0.45),
    "TAS": (0.68, 0.12, 0.19, 0.01, 0.00),
    "NAV": (0.68, 0.12, 0.19, 0.01, 0.00),
    "BUK": (0.70, 0.12, 0.17, 0.01, 0.00),
    "SAM": (0.70, 0.12, 0.17, 0.01, 0.00),
    "KHO": (0.72, 0.12, 0.12, 0.01, 0.03),
}
_LANGUAGE_DEFAULT = (0.76, 0.14, 0.09, 0.01, 0.00)
CYRILLIC_SCHOOLING_BEFORE = 1978  # born earlier: more likely to prefer uz-Cyrl

# Mobile operator codes after +998 (Beeline, Ucell, Mobiuz, Uzmobile, Humans, Perfectum).
MOBILE_CODES = ("90", "91", "93", "94", "95", "97", "98", "99", "88", "33", "77", "50")

# (Latin, Cyrillic) given names and family-name stems.
GIVEN_M = (
    ("Aziz", "Азиз"),
    ("Bobur", "Бобур"),
    ("Dilshod", "Дилшод"),
    ("Jasur", "Жасур"),
    ("Otabek", "Отабек"),
    ("Sardor", "Сардор"),
    ("Temur", "Темур"),
    ("Ulug‘bek", "Улуғбек"),
    ("Sherzod", "Шерзод"),
    ("Rustam", "Рустам"),
    ("Akmal", "Акмал"),
    ("Farrux", "Фаррух"),
    ("Jahongir", "Жаҳонгир"),
    ("Islom", "Ислом"),
    ("Shohruh", "Шоҳрух"),
    ("Abdulla", "Абдулла"),
    ("Nodir", "Нодир"),
    ("Ravshan", "Равшан"),
    ("O‘tkir", "Ўткир"),
    ("Anvar", "Анвар"),
)
GIVEN_F = (
    ("Dilnoza", "Дилноза"),
    ("Gulnora", "Гулнора"),
    ("Kamola", "Камола"),
    ("Madina", "Мадина"),
    ("Nigora", "Нигора"),
    ("Shahnoza", "Шаҳноза"),
    ("Zarina", "Зарина"),
    ("Feruza", "Феруза"),
    ("Malika", "Малика"),
    ("Nilufar", "Нилуфар"),
    ("Sevara", "Севара"),
    ("Mohira", "Моҳира"),
    ("Dildora", "Дилдора"),
    ("Yulduz", "Юлдуз"),
    ("Barno", "Барно"),
    ("Gulchehra", "Гулчеҳра"),
    ("Munisa", "Муниса"),
    ("O‘g‘iloy", "Ўғилой"),
    ("Lola", "Лола"),
    ("Saodat", "Саодат"),
)
FAMILY = (  # masculine form; the feminine adds "a"
    ("Karimov", "Каримов"),
    ("Rashidov", "Рашидов"),
    ("Yusupov", "Юсупов"),
    ("Aliyev", "Алиев"),
    ("Tursunov", "Турсунов"),
    ("Saidov", "Саидов"),
    ("Nazarov", "Назаров"),
    ("Xolmatov", "Холматов"),
    ("Ergashev", "Эргашев"),
    ("Abdullayev", "Абдуллаев"),
    ("Mirzayev", "Мирзаев"),
    ("Qodirov", "Қодиров"),
    ("Sobirov", "Собиров"),
    ("Usmonov", "Усмонов"),
    ("G‘ulomov", "Ғуломов"),
    ("Ismoilov", "Исмоилов"),
    ("Raximov", "Рахимов"),
    ("Jo‘rayev", "Жўраев"),
)
FAMILY_KAA = (
    ("Ótepov", "Өтепов"),
    ("Seytmuratov", "Сейтмуратов"),
    ("Allambergenov", "Алламбергенов"),
)
GIVEN_RU_M = (("Aleksandr", "Александр"), ("Sergey", "Сергей"), ("Dmitriy", "Дмитрий"))
GIVEN_RU_F = (("Yelena", "Елена"), ("Olga", "Ольга"), ("Natalya", "Наталья"))
FAMILY_RU = (("Ivanov", "Иванов"), ("Kim", "Ким"), ("Petrov", "Петров"), ("Tsoy", "Цой"))


def weighted(rng: random.Random, options: Sequence[T], weights: Sequence[float]) -> T:
    return rng.choices(options, weights=weights, k=1)[0]


@dataclasses.dataclass(frozen=True, slots=True)
class Person:
    pinfl: str
    full_name: str
    birth_date: date
    sex: str  # "M" / "F"
    region_code: str
    phone: str
    preferred_language: str

    def age_on(self, day: date) -> int:
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - before_birthday

    def registry_data(self) -> dict[str, Any]:
        """The ``data`` of a ``registry.population.v1`` event."""
        return {
            "full_name": self.full_name,
            "birth_date": self.birth_date.isoformat(),
            "sex": self.sex,
            "region_code": self.region_code,
            "phone": self.phone,
            "preferred_language": self.preferred_language,
        }

    def as_dict(self) -> dict[str, Any]:
        return {"pinfl": self.pinfl, **self.registry_data()}


class PinflIssuer:
    """Well-formed, unique PINFLs (check digit per the domain brief's layout)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.issued: set[str] = set()

    def issue(self, birth: date, sex: str, region: str) -> str:
        base = 100 + 60 * REGIONS.index(region) if region in REGIONS else 900
        while True:
            area = base + self.rng.randrange(60)
            pinfl = make_pinfl(birth, sex, area, self.rng.randrange(1000))
            if pinfl not in self.issued:
                self.issued.add(pinfl)
                return pinfl

    def someone(self, born_from: date, born_to: date, region: str) -> str:
        """A PINFL of a person outside the population (a child, a student, a tenant)."""
        days = (born_to - born_from).days
        birth = born_from + timedelta(days=self.rng.randrange(max(days, 1)))
        return self.issue(birth, self.rng.choice("MF"), region)


def birth_date_in_band(rng: random.Random, tax_year: int, low: int, high: int) -> date:
    """A birth date making the person ``low``..``high`` years old on 31 December."""
    latest = date(tax_year - low, 12, 31)
    earliest = date(tax_year - high - 1, 12, 31) + timedelta(days=1)
    return earliest + timedelta(days=rng.randrange((latest - earliest).days + 1))


def preferred_language(rng: random.Random, region: str, birth: date) -> str:
    shares = list(_LANGUAGE_SHARES.get(region, _LANGUAGE_DEFAULT))
    if birth.year < CYRILLIC_SCHOOLING_BEFORE:  # schooled before the Latin alphabet (1993)
        moved = min(shares[0], 0.15)
        shares[0] -= moved
        shares[1] += moved
    return weighted(rng, LANGUAGES, shares)


def full_name(rng: random.Random, sex: str, region: str, language: str) -> str:
    russian = language == "ru" and rng.random() < 0.35
    if russian:
        given = rng.choice(GIVEN_RU_M if sex == "M" else GIVEN_RU_F)
        family = rng.choice(FAMILY_RU)
    else:
        given = rng.choice(GIVEN_M if sex == "M" else GIVEN_F)
        kaa = region == "KAR" and rng.random() < 0.5
        family = rng.choice(FAMILY_KAA if kaa else FAMILY)
    cyrillic = language in ("uz-Cyrl", "ru") and rng.random() < 0.5
    script = 1 if cyrillic else 0
    surname = family[script]
    if sex == "F" and family[0] not in ("Kim", "Tsoy"):
        surname += "а" if cyrillic else "a"
    return f"{given[script]} {surname}"


def phone(rng: random.Random) -> str:
    return f"+998{rng.choice(MOBILE_CODES)}{rng.randrange(10**7):07d}"


def make_person(rng: random.Random, issuer: PinflIssuer, tax_year: int) -> Person:
    region = weighted(rng, REGIONS, list(REGION_WEIGHTS.values()))
    sex = "M" if rng.random() < 0.497 else "F"
    low, high, _ = weighted(rng, AGE_BANDS, [b[2] for b in AGE_BANDS])
    birth = birth_date_in_band(rng, tax_year, low, high)
    language = preferred_language(rng, region, birth)
    return Person(
        pinfl=issuer.issue(birth, sex, region),
        full_name=full_name(rng, sex, region, language),
        birth_date=birth,
        sex=sex,
        region_code=region,
        phone=phone(rng),
        preferred_language=language,
    )
