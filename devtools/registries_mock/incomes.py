"""What the income registries know about a person in one tax year, as registry records.

Amounts are integer tiyin and realistic UZS figures: salaries are whole thousands of
soums, so that a payroll that withholds 12 % and offsets the 0.1 % INPS contribution
lands on whole soums, as a real payroll does, and a correct employer leaves a balance of
exactly 0. A few employers under- or over-withhold on purpose.

Shares (of adults): about 60 % employed (more in the middle age bands), some with a
second or third employer, some changing jobs mid-year; 5 % landlords; 1 % property
sellers; 3 % dividend receivers; 15 % with exempt-use payments (more among the employed,
who have withheld tax to get back).
"""

from __future__ import annotations

import dataclasses
import math
import random
from datetime import date, timedelta
from typing import Any

from devtools.registries_mock.population import REGIONS, Person, PinflIssuer, weighted

SOUM = 100  # tiyin
THOUSAND = 1_000 * SOUM
MINIMUM_WAGE = 1_271_000 * SOUM  # from 2025-08-01 (domain brief, "Indexing units")
PIT_RATE = (12, 100)
DIVIDEND_RATE = (5, 100)
INPS_RATE = (1, 1000)

# Median monthly gross salary (soums) by region: Tashkent pays most.
MEDIAN_SALARY = {"TAS_CITY": 7_500_000, "TAS": 5_500_000, "NAV": 6_000_000}
MEDIAN_SALARY_DEFAULT = 4_500_000
EMPLOYMENT_BY_AGE = ((24, 0.45), (34, 0.72), (44, 0.74), (54, 0.70), (64, 0.50), (200, 0.15))


def share_of(amount: int, rate: tuple[int, int]) -> int:
    """``rate`` of ``amount`` tiyin, rounded to whole soums, half up (what payrolls do)."""
    num, den = rate
    return (amount * num + den * SOUM // 2) // (den * SOUM) * SOUM


def thousands(soums: float) -> int:
    """A soum figure rounded to whole thousands of soums, in tiyin."""
    return max(1, round(soums / 1000)) * THOUSAND


def tin(rng: random.Random, first: str = "2") -> str:
    """A 9-digit TIN: legal entities start with 2 (domain brief, "Identity")."""
    return first + "".join(str(rng.randrange(10)) for _ in range(8))


@dataclasses.dataclass(frozen=True, slots=True)
class Record:
    """One registry record as first published (revision 1)."""

    registry: str
    record_id: str
    data: dict[str, Any]
    occurred_at: str


@dataclasses.dataclass(frozen=True, slots=True)
class Employer:
    tin: str
    region: str
    behaviour: str  # "correct", "under" (skips months), "over" (ignores the INPS offset)
    pay_scale: float


class Counterparties:
    """Employers, tenants, companies, universities, kindergartens, banks: TINs by role."""

    def __init__(self, rng: random.Random, n_people: int) -> None:
        self.rng = rng
        used: set[str] = set()

        def fresh() -> str:
            while True:
                candidate = tin(rng)
                if candidate not in used:
                    used.add(candidate)
                    return candidate

        self.employers = [
            Employer(
                fresh(),
                weighted(rng, REGIONS, [1.0] * len(REGIONS)),
                weighted(rng, ("correct", "under", "over"), (0.94, 0.03, 0.03)),
                math.exp(rng.gauss(0, 0.25)),
            )
            for _ in range(max(20, n_people // 25))
        ]
        self.by_region: dict[str, list[Employer]] = {}
        for employer in self.employers:
            self.by_region.setdefault(employer.region, []).append(employer)
        self.companies = [
            (fresh(), rng.choice(("jsc", "llc"))) for _ in range(max(5, n_people // 200))
        ]
        self.tenants = [fresh() for _ in range(max(5, n_people // 100))]
        self.providers = {
            kind: [fresh() for _ in range(count)]
            for kind, count in (
                ("tuition", 25),
                ("preschool", 40),
                ("mortgage", 8),
                ("voluntary_pension", 2),
                ("investment_account", 6),
            )
        }

    def employer_near(self, region: str) -> Employer:
        local = self.by_region.get(region)
        if local and self.rng.random() < 0.85:
            return self.rng.choice(local)
        return self.rng.choice(self.employers)


def stamp(rng: random.Random, day: date) -> str:
    """An RFC 3339 instant on ``day``, office hours, Tashkent time."""
    return (
        f"{day.isoformat()}T{rng.randrange(9, 18):02d}:{rng.randrange(60):02d}:"
        f"{rng.randrange(60):02d}+05:00"
    )


def _add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last))


class IncomeMaker:
    """Makes the income-registry records of one person for one tax year."""

    def __init__(
        self, rng: random.Random, tax_year: int, parties: Counterparties, issuer: PinflIssuer
    ) -> None:
        self.rng = rng
        self.year = tax_year
        self.parties = parties
        self.issuer = issuer
        self.serial = 0

    def next_serial(self) -> int:
        self.serial += 1
        return self.serial

    def day_in(self, month: int, first: int = 1, last: int = 28) -> date:
        return date(self.year, month, self.rng.randint(first, last))

    # --- who gets what ------------------------------------------------------------------

    def records(self, person: Person, population: list[Person]) -> list[Record]:
        rng = self.rng
        age = person.age_on(date(self.year, 12, 31))
        employed = rng.random() < next(p for top, p in EMPLOYMENT_BY_AGE if age <= top)
        out: list[Record] = []
        if employed:
            out += self.payroll(person, age)
        if rng.random() < (0.07 if age >= 35 else 0.025):
            out += self.rental(person, population)
        if rng.random() < 0.01:
            out += self.property_sale(person)
        if rng.random() < (0.045 if age >= 35 else 0.015):
            out += self.dividends()
        if rng.random() < (0.22 if employed else 0.045):
            out += self.deductions(person, age)
        return out

    # --- payroll ------------------------------------------------------------------------

    def payroll(self, person: Person, age: int) -> list[Record]:
        rng = self.rng
        median = MEDIAN_SALARY.get(person.region_code, MEDIAN_SALARY_DEFAULT)
        age_factor = 0.7 if age < 25 else 1.0 if age < 35 else 1.15 if age < 55 else 0.95
        base = median * age_factor * math.exp(rng.gauss(0, 0.55))
        spells: list[tuple[Employer, int, int, float]] = []  # employer, from, to, pay factor
        main = self.parties.employer_near(person.region_code)
        shape = rng.random()
        if shape < 0.08:  # changed jobs mid-year, sometimes with a month in between
            change = rng.randint(3, 10)
            other = self.parties.employer_near(person.region_code)
            while other.tin == main.tin:
                other = rng.choice(self.parties.employers)
            spells.append((main, 1, change, 1.0))
            spells.append((other, change + 1 + (rng.random() < 0.3), 12, rng.uniform(1.0, 1.3)))
        elif shape < 0.15:  # started during the year
            spells.append((main, rng.randint(2, 11), 12, 1.0))
        else:
            spells.append((main, 1, 12, 1.0))
        extra = 2 if rng.random() < 0.02 else 1 if rng.random() < 0.12 else 0
        taken = {s[0].tin for s in spells}
        for _ in range(extra):  # a second (or third) employer at the same time, part-time
            second = rng.choice(self.parties.employers)
            if second.tin in taken:
                continue
            taken.add(second.tin)
            start = rng.randint(1, 9)
            spells.append((second, start, rng.randint(start + 2, 12), rng.uniform(0.25, 0.6)))
        out: list[Record] = []
        for employer, first, last, factor in spells:
            out += self.employment(
                person, employer, first, last, base * factor * employer.pay_scale
            )
        return out

    def employment(
        self, person: Person, employer: Employer, first: int, last: int, monthly: float
    ) -> list[Record]:
        rng = self.rng
        floor = MINIMUM_WAGE if monthly >= 1_000_000 else 600_000 * SOUM  # part-time below
        raise_month = rng.randint(4, 10) if rng.random() < 0.2 else 13
        raise_factor = rng.uniform(1.05, 1.2)
        december_bonus = rng.uniform(0.5, 1.0) if rng.random() < 0.15 else 0.0
        quarterly = rng.uniform(0.2, 0.5) if rng.random() < 0.1 else 0.0
        aid_month = rng.randint(first, last) if rng.random() < 0.03 else 0
        skipped = set(
            rng.sample(range(first, last + 1), k=min(last - first + 1, rng.randint(1, 3)))
        )
        out: list[Record] = []
        for month in range(first, last + 1):
            salary = monthly * (raise_factor if month >= raise_month else 1.0)
            gross = max(floor, thousands(salary))
            if month == 12 and december_bonus:
                gross += thousands(salary * december_bonus)
            if quarterly and month % 3 == 0:
                gross += thousands(salary * quarterly)
            gross = min(gross, 300_000_000 * SOUM)
            # Material aid the employer exempts at source (a whole thousand soums).
            exempt = (
                min(gross, thousands(rng.uniform(500_000, 4_000_000))) if month == aid_month else 0
            )
            tax = share_of(gross - exempt, PIT_RATE)
            inps = min(share_of(gross, INPS_RATE), tax)  # the offset cannot exceed the tax
            withheld = tax - inps
            if employer.behaviour == "under" and month in skipped:
                withheld = 0  # the employer did not pay the tax over that month
            elif employer.behaviour == "over":
                withheld = tax  # forgot to offset the INPS contribution
            filed = _add_months(date(self.year, month, 1), 1) + timedelta(days=rng.randrange(14))
            out.append(
                Record(
                    "payroll",
                    f"PAY-{employer.tin}-{person.pinfl}-{self.year}{month:02d}",
                    {
                        "employer_tin": employer.tin,
                        "month": month,
                        "gross_income_tiyin": gross,
                        "exempt_at_source_tiyin": exempt,
                        "pit_withheld_tiyin": withheld,
                        "inps_offset_tiyin": inps,
                    },
                    stamp(rng, filed),
                )
            )
        return out

    # --- rent ---------------------------------------------------------------------------

    def rental(self, person: Person, population: list[Person]) -> list[Record]:
        rng = self.rng
        count = weighted(rng, (1, 2, 3), (0.8, 0.17, 0.03))
        out = []
        for _ in range(count):
            individual = rng.random() < 0.65
            months = weighted(rng, (11, 12, 24, 6), (0.45, 0.3, 0.15, 0.1))
            day = rng.randint(2, 28) if rng.random() < 0.4 else 1
            if rng.random() < 0.4:  # signed last year, still running in the tax year
                start = date(self.year - 1, rng.randint(max(2, 14 - months), 12), day)
            else:
                start = date(self.year, rng.randint(1, 11), day)
            end = _add_months(start, months) - timedelta(days=1)
            tashkent = person.region_code in ("TAS_CITY", "TAS")
            low, high = (4_000_000, 15_000_000) if tashkent else (1_500_000, 6_000_000)
            rent = round(rng.uniform(low, high) / 50_000) * 50_000 * SOUM
            periods = _periods_in_year(start, end, self.year)
            if individual:
                tenant = rng.choice(population).pinfl if population else ""
                if not tenant or tenant == person.pinfl:
                    tenant = self.issuer.someone(date(1960, 1, 1), date(2005, 1, 1), "TAS")
                withheld = 0
            else:
                tenant = rng.choice(self.parties.tenants)
                withheld = share_of(rent * periods, PIT_RATE)  # the tenant is the tax agent
            contract = f"NT-{start.year}-{self.next_serial():07d}"
            out.append(
                Record(
                    "rental",
                    f"LEASE-{contract}-{self.year}",
                    {
                        "contract_number": contract,
                        "tenant_kind": "individual" if individual else "legal_entity",
                        "tenant_id": tenant,
                        "cadastral_number": self.cadastral_number(person.region_code),
                        "start_date": start.isoformat(),
                        "end_date": end.isoformat(),
                        "monthly_rent_tiyin": rent,
                        "pit_withheld_tiyin": withheld,
                    },
                    stamp(rng, date(self.year + 1, 1, rng.randint(5, 25))),
                )
            )
        return out

    def cadastral_number(self, region: str) -> str:
        rng = self.rng
        return (
            f"{10 + REGIONS.index(region):02d}:{rng.randint(1, 20):02d}:{rng.randint(1, 30):02d}"
            f":{rng.randint(1, 9):02d}:{rng.randrange(10**4):04d}"
        )

    # --- property sales -----------------------------------------------------------------

    def property_sale(self, person: Person) -> list[Record]:
        rng = self.rng
        kind = weighted(rng, ("residential", "non_residential", "land"), (0.7, 0.15, 0.15))
        sale = self.day_in(rng.randint(1, 12))
        if kind == "residential" and rng.random() < 0.4:  # held under 36 months: taxable
            bought = sale - timedelta(days=rng.randint(150, 1080))
        else:
            bought = sale - timedelta(days=rng.randint(3 * 365 + 30, 25 * 365))
        low, high = {
            "residential": (350_000_000, 1_800_000_000),
            "non_residential": (500_000_000, 3_000_000_000),
            "land": (80_000_000, 600_000_000),
        }[kind]
        if person.region_code == "TAS_CITY":
            low, high = int(low * 1.6), int(high * 1.6)
        price = round(rng.uniform(low, high) / 1_000_000) * 1_000_000
        documented = rng.random() < 0.7
        cost = round(price * rng.uniform(0.55, 1.05) / 1_000_000) * 1_000_000 * SOUM
        cadastral = round(price * rng.uniform(0.4, 0.8) / 1000) * THOUSAND
        number = self.cadastral_number(person.region_code)
        return [
            Record(
                "property_sale",
                f"SALE-{number}-{self.next_serial():07d}",
                {
                    "cadastral_number": number,
                    "property_kind": kind,
                    "sale_date": sale.isoformat(),
                    "sale_price_tiyin": price * SOUM,
                    "acquisition_date": bought.isoformat(),
                    "acquisition_cost_tiyin": cost if documented else None,
                    "cadastral_value_tiyin": cadastral,
                },
                stamp(rng, sale + timedelta(days=rng.randint(1, 10))),
            )
        ]

    # --- dividends ----------------------------------------------------------------------

    def dividends(self) -> list[Record]:
        rng = self.rng
        out = []
        for _ in range(weighted(rng, (1, 2, 3, 4), (0.7, 0.2, 0.06, 0.04))):
            payer, kind = rng.choice(self.parties.companies)
            paid = self.day_in(rng.randint(3, 9))
            gross = thousands(min(math.exp(rng.gauss(math.log(6_000_000), 1.0)), 500_000_000))
            out.append(
                Record(
                    "dividend",
                    f"DIV-{payer}-{self.next_serial():08d}",
                    {
                        "payer_tin": payer,
                        "payer_kind": kind,
                        "paid_on": paid.isoformat(),
                        "gross_tiyin": gross,
                        "pit_withheld_tiyin": share_of(gross, DIVIDEND_RATE),
                    },
                    stamp(rng, paid),
                )
            )
        return out

    # --- exempt-use payments ------------------------------------------------------------

    def deductions(self, person: Person, age: int) -> list[Record]:
        rng = self.rng
        kinds = ("tuition", "preschool", "mortgage", "voluntary_pension", "investment_account")
        weights = [0.40, 0.25, 0.12, 0.13, 0.10]
        if age < 22 or age > 60:
            weights[1] = 0.02  # few small children
        chosen = {weighted(rng, kinds, weights) for _ in range(2 if rng.random() < 0.2 else 1)}
        out: list[Record] = []
        for kind in sorted(chosen):
            out += getattr(self, f"_{kind}")(person, age)
        return out

    def _payment(
        self, person: Person, kind: str, beneficiary: str, paid: date, amount: int
    ) -> Record:
        provider = self.rng.choice(self.parties.providers[kind])
        return Record(
            "deduction",
            f"EXU-{kind[:3].upper()}-{provider}-{self.next_serial():08d}",
            {
                "kind": kind,
                "provider_tin": provider,
                "beneficiary_pinfl": beneficiary,
                "paid_on": paid.isoformat(),
                "amount_tiyin": amount,
            },
            stamp(self.rng, paid),
        )

    def _tuition(self, person: Person, age: int) -> list[Record]:
        rng = self.rng
        if age < 30 and rng.random() < 0.6:
            student = person.pinfl  # studies themself
        elif age >= 38:
            student = self.issuer.someone(
                date(self.year - 23, 1, 1), date(self.year - 17, 1, 1), person.region_code
            )
        else:  # a spouse under 26
            student = self.issuer.someone(
                date(self.year - 25, 6, 1), date(self.year - 19, 1, 1), person.region_code
            )
        contract = rng.uniform(8_000_000, 35_000_000)
        if rng.random() < 0.5:
            return [self._payment(person, "tuition", student, self.day_in(9), thousands(contract))]
        half = thousands(contract / 2)
        return [
            self._payment(person, "tuition", student, self.day_in(rng.choice((1, 2))), half),
            self._payment(person, "tuition", student, self.day_in(9, 1, 20), half),
        ]

    def _preschool(self, person: Person, age: int) -> list[Record]:
        rng = self.rng
        children = 2 if rng.random() < 0.15 else 1
        out = []
        for _ in range(children):
            child = self.issuer.someone(
                date(self.year - 6, 1, 1), date(self.year - 2, 6, 1), person.region_code
            )
            fee = round(rng.uniform(800_000, 4_000_000) / 10_000) * 10_000 * SOUM
            months = [m for m in (1, 2, 3, 4, 5, 9, 10, 11, 12) if rng.random() < 0.9]
            out += [
                self._payment(person, "preschool", child, self.day_in(m, 1, 10), fee)
                for m in months
            ]
        return out

    def _mortgage(self, person: Person, age: int) -> list[Record]:
        rng = self.rng
        monthly = round(rng.uniform(1_500_000, 10_000_000) / 1000) * THOUSAND
        return [
            self._payment(person, "mortgage", person.pinfl, self.day_in(m, 20, 28), monthly)
            for m in range(1, 13)
        ]

    def _voluntary_pension(self, person: Person, age: int) -> list[Record]:
        rng = self.rng
        return [
            self._payment(
                person,
                "voluntary_pension",
                person.pinfl,
                self.day_in(m),
                thousands(rng.uniform(200_000, 5_000_000)),
            )
            for m in sorted(rng.sample(range(1, 13), k=rng.randint(1, 4)))
        ]

    def _investment_account(self, person: Person, age: int) -> list[Record]:
        rng = self.rng
        return [
            self._payment(
                person,
                "investment_account",
                person.pinfl,
                self.day_in(m),
                thousands(rng.uniform(1_000_000, 30_000_000)),
            )
            for m in sorted(rng.sample(range(1, 13), k=rng.randint(1, 3)))
        ]


def corrected(rng: random.Random, registry: str, data: dict[str, Any], year: int) -> dict[str, Any]:
    """The data of a correction (a higher revision) a registry might send for a record."""
    fixed = dict(data)
    if registry == "payroll":  # a late bonus or a recalculated month; withholding redone
        gross = data["gross_income_tiyin"] + thousands(rng.uniform(100_000, 3_000_000))
        tax = share_of(gross - data["exempt_at_source_tiyin"], PIT_RATE)
        inps = min(share_of(gross, INPS_RATE), tax)
        fixed.update(
            gross_income_tiyin=gross, pit_withheld_tiyin=tax - inps, inps_offset_tiyin=inps
        )
    elif registry == "rental":  # the rent was renegotiated
        rent = max(50_000 * SOUM, data["monthly_rent_tiyin"] + rng.choice((-1, 1)) * 500_000 * SOUM)
        fixed["monthly_rent_tiyin"] = rent
        if data["tenant_kind"] == "legal_entity":
            start, end = (
                date.fromisoformat(data["start_date"]),
                date.fromisoformat(data["end_date"]),
            )
            fixed["pit_withheld_tiyin"] = share_of(
                rent * _periods_in_year(start, end, year), PIT_RATE
            )
    elif registry == "property_sale":  # the documents of the purchase were found, or fixed
        price = data["sale_price_tiyin"]
        fixed["acquisition_cost_tiyin"] = round(price * rng.uniform(0.6, 0.95) / 10**8) * 10**8
    elif registry == "dividend":
        gross = thousands(data["gross_tiyin"] / SOUM * rng.uniform(0.8, 1.2))
        fixed.update(gross_tiyin=gross, pit_withheld_tiyin=share_of(gross, DIVIDEND_RATE))
    elif registry == "deduction":
        fixed["amount_tiyin"] = thousands(data["amount_tiyin"] / SOUM * rng.uniform(0.5, 1.1))
    elif registry == "population":  # a new phone number
        fixed["phone"] = (
            f"+998{rng.choice(('90', '91', '93', '94', '97', '99'))}{rng.randrange(10**7):07d}"
        )
    return fixed


CONFLICTING_AMOUNT = {
    "payroll": "gross_income_tiyin",
    "rental": "monthly_rent_tiyin",
    "property_sale": "sale_price_tiyin",
    "dividend": "gross_tiyin",
    "deduction": "amount_tiyin",
}


def _periods_in_year(start: date, end: date, year: int) -> int:
    """Monthly rent periods (from the start date) that start in ``year`` by the end date."""
    count, k = 0, 0
    while True:
        begins = _add_months(start, k)
        if begins > end or begins.year > year:
            return count
        count += begins.year == year
        k += 1
