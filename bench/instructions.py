"""Instructions an item of the registry path's hot spots, counted by valgrind: figures that
do not move with the machine's load.

A shared 2-core machine gave the same code 18 – 34 µs a decoded event from one run to the
next (docs/benchmarks.md, fourteenth session); an instruction count is the same every run,
so a change of a few per cent shows. Each harness runs twice under ``valgrind
--tool=callgrind``, once with no items and once with ``--items``; the difference over the
items is what one item costs, start-up and set-up taken out. The harnesses:

- ``decode``: ``decode_event`` of valid events of the mock season (the registry path's and
  the people projection's decode);
- ``tax``: ``facts_from_records`` + ``compute_return`` over ``bench/tax_engine.py``'s mix;
- ``release``: one return of the release as the registry processor makes it: the ledger
  decoded from its stored bytes, ``next_version`` (facts, engine, ``returns.v1``, its
  fingerprint) and the wire JSON.

CPU time, not instructions, is what the season's figures are made of: an instruction of
the interpreter is not an instruction of zstd. Use this to tell whether a change to
Python code made it cheaper; ``bench/season.py`` for what a worker does.

    python bench/instructions.py [--items 300] [--only decode,tax,release]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import describe

HARNESSES = ("decode", "tax", "release")
TAX_YEAR = 2026
COMPUTED_AT = "2027-02-01T09:00:00+05:00"


def _decode_items(pool: int, n: int) -> None:
    from pathlib import Path as _Path

    from contracts.registry_events import ValidationPolicy, decode_event
    from core.settings import Settings
    from devtools.registries_mock.season import generate_season

    policy = ValidationPolicy.from_settings(Settings(run_dir=_Path(".")))
    season = generate_season(n_people=max(300, pool // 8), tax_year=TAX_YEAR, seed=1)
    events = [(e.topic_registry, e.payload) for e in season.events if not e.rejected]
    first_of_each = {registry: raw for registry, raw in reversed(events)}
    for registry, raw in first_of_each.items():  # every registry's types built, both runs
        decode_event(raw, registry, policy)
    spread = events[:: max(1, len(events) // max(pool, 1))]  # every registry, in proportion
    for registry, raw in spread[:n]:
        decode_event(raw, registry, policy)


def _tax_items(pool: int, n: int) -> None:
    from bench.tax_engine import YEAR, taxpayer
    from tax import compute_return, facts_from_records, load_parameters

    rng = random.Random(1)
    people = [taxpayer(rng, serial) for serial in range(max(pool, 1))]
    parameters = load_parameters()
    compute_return(facts_from_records(people[0][0], YEAR, people[0][1]), parameters, YEAR)
    for pinfl, records in people[:n]:
        compute_return(facts_from_records(pinfl, YEAR, records), parameters, YEAR)


def _release_items(pool: int, n: int) -> None:
    from pathlib import Path as _Path

    from agents.ledger import Published, apply_event, empty_ledger, ledger_key, split_ledger_key
    from agents.returns_builder import next_version
    from contracts.registry_events import EventRejected, ValidationPolicy, decode_event
    from core.settings import Settings
    from devtools.registries_mock.season import generate_season
    from streams.batch_outputs import wire_json
    from streams.state import decode, encode
    from tax import load_parameters

    policy = ValidationPolicy.from_settings(Settings(run_dir=_Path(".")))
    season = generate_season(n_people=max(600, 2 * pool), tax_year=TAX_YEAR, seed=1)
    ledgers: dict[str, Any] = {}
    for event in season.events:
        if event.rejected or event.topic_registry == "population":
            continue
        try:
            decoded = decode_event(event.payload, event.topic_registry, policy)
        except EventRejected:
            continue
        assert decoded.tax_year is not None
        key = ledger_key(decoded.pinfl, decoded.tax_year)
        apply_event(ledgers.setdefault(key, empty_ledger()), decoded)
    stored = [(key, encode(ledger)) for key, ledger in sorted(ledgers.items())]
    parameters = load_parameters()

    def one(key: str, raw: bytes) -> None:
        pinfl, year = split_ledger_key(key)
        published: Published = {"version": 0, "fingerprint": ""}
        value = next_version(pinfl, year, decode(raw), published, parameters, COMPUTED_AT)
        if value is not None:
            wire_json(value)

    for key, raw in stored[:20]:
        one(key, raw)
    for key, raw in stored[:n]:
        one(key, raw)


RUNNERS = {"decode": _decode_items, "tax": _tax_items, "release": _release_items}


def instructions(harness: str, pool: int, items: int) -> int:
    """Instructions of this script running ``harness`` over ``items`` of a set-up of
    ``pool`` (the same in both runs, so the difference is the items alone)."""
    run = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--harness",
            harness,
            "--pool",
            str(pool),
            "--items",
            str(items),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},  # the same sets and dicts every run
    )
    found = re.search(r"Collected : (\d+)", run.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from valgrind:\n{run.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--only", default=",".join(HARNESSES))
    parser.add_argument("--harness", choices=HARNESSES, help=argparse.SUPPRESS)
    parser.add_argument("--pool", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.harness is not None:  # the child valgrind runs
        RUNNERS[args.harness](args.pool, args.items)
        return
    print(describe())
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind): no instruction counts")
        return
    for harness in args.only.split(","):
        empty = instructions(harness, args.items, 0)
        full = instructions(harness, args.items, args.items)
        each = (full - empty) / args.items
        print(f"{harness:8s} {each:12,.0f} instructions an item ({args.items} items)")


if __name__ == "__main__":
    main()
