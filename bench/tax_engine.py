"""Returns computed per second on one core, over a realistic mix of taxpayers.

Run: ``python bench/tax_engine.py [--people 5000] [--seconds 10] [--seed 1]``.
The mix (deterministic for a seed): every taxpayer has 12 monthly payroll reports
(20% of them from two employers, 10% under-withheld in December); 25% let a property
(70% to individuals); 3% sell a property; 10% receive dividends; 15% have exempt-use
payments (tuition, kindergarten, mortgage, pension, investment account). Each timed
return is the whole engine path the stream takes: ``facts_from_records`` (validation)
then ``compute_return``. The figure goes in the issue note; no assertion on timing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import describe
from tax import RegistryRecord, compute_return, facts_from_records, load_parameters

YEAR = 2026
SOUM = 100


def taxpayer(rng: random.Random, serial: int) -> tuple[str, list[RegistryRecord]]:
    pinfl = f"3{serial:012d}1"
    records: list[RegistryRecord] = []
    employers = [f"2{rng.randrange(10**8):08d}" for _ in range(1 if rng.random() < 0.8 else 2)]
    for tin in employers:
        monthly = rng.randrange(1_500_000, 25_000_000) * SOUM
        short = rng.random() < 0.1
        for month in range(1, 13):
            inps = monthly // 1000
            records.append(
                RegistryRecord(
                    "payroll",
                    f"{tin}-{serial}-{month:02d}",
                    1,
                    {
                        "employer_tin": tin,
                        "month": month,
                        "gross_income_tiyin": monthly,
                        "exempt_at_source_tiyin": 0,
                        "pit_withheld_tiyin": 0
                        if short and month == 12
                        else monthly * 12 // 100 - inps,
                        "inps_offset_tiyin": inps,
                    },
                )
            )
    if rng.random() < 0.25:
        individual = rng.random() < 0.7
        rent = rng.randrange(1_000_000, 8_000_000) * SOUM
        start = dt.date(YEAR, rng.randrange(1, 13), rng.randrange(1, 29))
        records.append(
            RegistryRecord(
                "rental",
                f"L-{serial}",
                1,
                {
                    "contract_number": f"N{serial:06d}",
                    "tenant_kind": "individual" if individual else "legal_entity",
                    "tenant_id": "32001850023456" if individual else "207890123",
                    "cadastral_number": "10:01:02:0003",
                    "start_date": start.isoformat(),
                    "end_date": (start + dt.timedelta(days=364)).isoformat(),
                    "monthly_rent_tiyin": rent,
                    "pit_withheld_tiyin": 0 if individual else rent * 12 * 12 // 100,
                },
            )
        )
    if rng.random() < 0.03:
        sold = dt.date(YEAR, rng.randrange(1, 13), 15)
        records.append(
            RegistryRecord(
                "property_sale",
                f"S-{serial}",
                1,
                {
                    "cadastral_number": f"10:01:02:{serial % 10000:04d}",
                    "property_kind": rng.choice(
                        ["residential", "residential", "non_residential", "land"]
                    ),
                    "sale_date": sold.isoformat(),
                    "sale_price_tiyin": rng.randrange(300, 1500) * 1_000_000 * SOUM,
                    "acquisition_date": (
                        sold - dt.timedelta(days=rng.randrange(200, 4000))
                    ).isoformat(),
                    "acquisition_cost_tiyin": rng.choice(
                        [None, rng.randrange(200, 1200) * 1_000_000 * SOUM]
                    ),
                    "cadastral_value_tiyin": rng.randrange(200, 900) * 1_000_000 * SOUM,
                },
            )
        )
    if rng.random() < 0.10:
        gross = rng.randrange(1, 100) * 1_000_000 * SOUM
        records.append(
            RegistryRecord(
                "dividend",
                f"D-{serial}",
                1,
                {
                    "payer_tin": "206789012",
                    "payer_kind": rng.choice(["jsc", "llc"]),
                    "paid_on": f"{YEAR}-05-20",
                    "gross_tiyin": gross,
                    "pit_withheld_tiyin": gross // 20,
                },
            )
        )
    if rng.random() < 0.15:
        for index in range(rng.randrange(1, 4)):
            kind = rng.choice(
                ["tuition", "preschool", "mortgage", "voluntary_pension", "investment_account"]
            )
            own = kind in ("mortgage", "voluntary_pension", "investment_account")
            records.append(
                RegistryRecord(
                    "deduction",
                    f"X-{serial}-{index}",
                    1,
                    {
                        "kind": kind,
                        "provider_tin": "203456789",
                        "beneficiary_pinfl": pinfl if own else "61203150012342",
                        "paid_on": f"{YEAR}-{rng.randrange(1, 13):02d}-10",
                        "amount_tiyin": rng.randrange(1, 40) * 1_000_000 * SOUM,
                    },
                )
            )
    return pinfl, records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    population = [taxpayer(rng, serial) for serial in range(args.people)]
    records_total = sum(len(r) for _, r in population)
    parameters = load_parameters()
    parameters.for_year(YEAR)  # the per-year view is built once per process, like the worker

    def one(entry: Any) -> None:
        pinfl, records = entry
        compute_return(facts_from_records(pinfl, YEAR, records), parameters, YEAR)

    for entry in population[:200]:  # warm-up
        one(entry)
    computed = 0
    started = time.perf_counter()
    while time.perf_counter() - started < args.seconds:
        for entry in population:
            one(entry)
        computed += len(population)
    elapsed = time.perf_counter() - started

    print(f"returns computed: {computed} in {elapsed:.2f} s on one core")
    print(f"returns per second: {computed / elapsed:,.0f}")
    print(
        f"mix: {args.people} taxpayers, {records_total / args.people:.1f} records each (seed "
        f"{args.seed})"
    )
    print(describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
