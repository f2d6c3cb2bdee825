"""A synthetic tax season: people, their registry events, and the oracle of right answers.

Deterministic for a seed. Faults are part of the season on purpose: corrections (a higher
revision), voids, exact duplicates and out-of-order revisions, so that the pipeline must
apply the contract's rules to come out right. The oracle says which record revision
counts for every taxpayer; tests compute the expected return from it.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import date, timedelta
from typing import Any

from registries_mock.pinfl import make_pinfl

REGIONS = (
    "TAS_CITY",
    "TAS",
    "AND",
    "BUK",
    "FER",
    "JIZ",
    "KAS",
    "KHO",
    "NAM",
    "NAV",
    "SAM",
    "SIR",
    "SUR",
    "KAR",
)
LANGUAGES = ("uz-Latn", "uz-Latn", "uz-Latn", "uz-Cyrl", "ru", "ru", "en", "kaa")
GIVEN_M = ("Aziz", "Bobur", "Dilshod", "Jasur", "Otabek", "Sardor", "Temur", "Ulugbek")
GIVEN_F = ("Dilnoza", "Gulnora", "Kamola", "Madina", "Nigora", "Shahnoza", "Zarina", "Feruza")
FAMILY = ("Karimov", "Rashidov", "Yusupov", "Aliyev", "Tursunov", "Saidov", "Nazarov")
SOUM = 100  # tiyin


@dataclasses.dataclass(frozen=True)
class Event:
    topic_registry: str
    key: str
    value: dict[str, Any]


@dataclasses.dataclass
class Season:
    tax_year: int
    people: list[dict[str, Any]]
    events: list[Event]
    # (pinfl, tax_year) -> {"<registry>/<record_id>": (revision, data)} of active records
    oracle: dict[tuple[str, int], dict[str, tuple[int, dict[str, Any]]]]
    registries: tuple[str, ...] = ("population", "payroll", "rental")

    @property
    def taxpayers(self) -> list[str]:
        return sorted({pinfl for pinfl, _ in self.oracle})


class _Builder:
    def __init__(self, tax_year: int, rng: random.Random, id_prefix: str) -> None:
        self.tax_year = tax_year
        self.rng = rng
        self.id_prefix = id_prefix
        self.events: list[Event] = []
        self.oracle: dict[tuple[str, int], dict[str, tuple[int, dict[str, Any]]]] = {}
        self._serial = 0

    def event_id(self) -> str:
        self._serial += 1
        return f"{self.id_prefix}-{self._serial:08d}"

    def occurred_at(self, month: int) -> str:
        day = date(self.tax_year, month, 1) + timedelta(days=self.rng.randrange(27))
        return f"{day.isoformat()}T10:00:00+05:00"

    def emit(
        self,
        registry: str,
        pinfl: str,
        record_id: str,
        revision: int,
        data: dict[str, Any] | None,
        month: int = 12,
    ) -> Event:
        value: dict[str, Any] = {
            "event_id": self.event_id(),
            "registry": registry,
            "schema_version": 1,
            "record_id": record_id,
            "revision": revision,
            "action": "upsert" if data is not None else "void",
            "occurred_at": self.occurred_at(month),
            "pinfl": pinfl,
        }
        if registry != "population":
            value["tax_year"] = self.tax_year
        if data is not None:
            value["data"] = data
        event = Event(registry, pinfl, value)
        self.events.append(event)
        if registry != "population":
            records = self.oracle.setdefault((pinfl, self.tax_year), {})
            key = f"{registry}/{record_id}"
            held = records.get(key)
            if held is None or revision > held[0]:
                records[key] = (revision, data) if data is not None else (revision, {})
                if data is None:
                    records[key] = (revision, {"__void__": True})
        return event


def _tin(rng: random.Random) -> str:
    return "2" + "".join(str(rng.randrange(10)) for _ in range(8))


def generate_season(
    n_people: int = 200, tax_year: int = 2026, seed: int = 7, id_prefix: str = "mock"
) -> Season:
    rng = random.Random(seed)
    b = _Builder(tax_year, rng, id_prefix)
    employers = [_tin(rng) for _ in range(max(3, n_people // 20))]
    people: list[dict[str, Any]] = []
    for serial in range(n_people):
        sex = rng.choice("MF")
        birth = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 55))
        pinfl = make_pinfl(birth, sex, rng.randrange(1, 999), serial)
        person = {
            "full_name": f"{rng.choice(GIVEN_M if sex == 'M' else GIVEN_F)} "
            f"{rng.choice(FAMILY)}{'a' if sex == 'F' else ''}",
            "birth_date": birth.isoformat(),
            "sex": sex,
            "region_code": rng.choice(REGIONS),
            "phone": f"+9989{rng.randrange(10**8):08d}",
            "preferred_language": rng.choice(LANGUAGES),
        }
        people.append({"pinfl": pinfl, **person})
        b.emit("population", pinfl, f"P{pinfl}", 1, person, month=1)
        _payroll(b, rng, pinfl, employers)
        if rng.random() < 0.25:
            _rental(b, rng, pinfl, tax_year)
    _faults(b, rng)
    oracle = {
        k: {rk: rv for rk, rv in recs.items() if "__void__" not in rv[1]}
        for k, recs in b.oracle.items()
    }
    return Season(tax_year, people, b.events, oracle)


def _payroll(b: _Builder, rng: random.Random, pinfl: str, employers: list[str]) -> None:
    for tin in rng.sample(employers, k=1 if rng.random() < 0.8 else 2):
        monthly = rng.randrange(2_000_000, 15_000_000) * SOUM
        under_withheld = rng.random() < 0.1
        for month in range(1, 13):
            exempt = 0
            inps = monthly // 1000  # 0.1 % INPS contribution offsets the tax (Art 385)
            pit = (monthly - exempt) * 12 // 100 - inps
            if under_withheld and month == 12:
                pit = 0
            b.emit(
                "payroll",
                pinfl,
                f"{tin}-{pinfl[-6:]}-{month:02d}",
                1,
                {
                    "employer_tin": tin,
                    "month": month,
                    "gross_income_tiyin": monthly,
                    "exempt_at_source_tiyin": exempt,
                    "pit_withheld_tiyin": pit,
                    "inps_offset_tiyin": inps,
                },
                month=month,
            )


def _rental(b: _Builder, rng: random.Random, pinfl: str, tax_year: int) -> None:
    individual = rng.random() < 0.7
    rent = rng.randrange(1_000_000, 8_000_000) * SOUM
    start_month = rng.randrange(1, 7)
    b.emit(
        "rental",
        pinfl,
        f"N-{pinfl[-6:]}-{tax_year}",
        1,
        {
            "contract_number": f"N{rng.randrange(10**6):06d}",
            "tenant_kind": "individual" if individual else "legal_entity",
            "tenant_id": (
                make_pinfl(date(1990, 1, 1), "M", 1, rng.randrange(1000))
                if individual
                else _tin(rng)
            ),
            "cadastral_number": f"10:01:{rng.randrange(100):02d}:{rng.randrange(10**4):04d}",
            "start_date": date(tax_year, start_month, 1).isoformat(),
            "end_date": date(tax_year, 12, 31).isoformat(),
            "monthly_rent_tiyin": rent,
            "pit_withheld_tiyin": 0 if individual else rent * (13 - start_month) * 12 // 100,
        },
    )


def _faults(b: _Builder, rng: random.Random) -> None:
    """Corrections, voids, duplicates and reordering, a few percent of records each."""
    payroll = [e for e in b.events if e.topic_registry == "payroll"]
    for original in rng.sample(payroll, k=max(1, len(payroll) // 50)):
        data = dict(original.value["data"])
        data["gross_income_tiyin"] += 123_456 * SOUM
        data["pit_withheld_tiyin"] = data["gross_income_tiyin"] * 12 // 100
        correction = b.emit("payroll", original.key, original.value["record_id"], 2, data)
        if rng.random() < 0.5:  # out of order: the correction overtakes the original
            b.events.remove(correction)
            b.events.insert(b.events.index(original), correction)
    for original in rng.sample(payroll, k=max(1, len(payroll) // 100)):
        if original.value["revision"] == 1:
            b.emit("payroll", original.key, original.value["record_id"], 5, None)
    for original in rng.sample(b.events, k=max(1, len(b.events) // 50)):
        b.events.append(original)  # an exact redelivery: must be ignored
