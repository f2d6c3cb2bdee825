"""Registry-event validation throughput: ``decode_event`` on a mock season, one core.

Rates are events per second of *CPU time* of this process (``time.process_time``), so
they read as "per core" even on a machine other work is loading; the wall-clock rate is
printed beside them. Measured at batch level: the season's events in batches of 2,000 (the
registry agent's ``take_events`` batch), decoded one after another as the agent does.

Rows: valid events (the typed msgspec path); invalid events (the typed path declines, the
reference path finds the first problem); every problem of invalid events (the HTTP API's
422, ``event_problems``); and two floors: a bare ``json.loads`` and a bare msgspec decode,
each with the content digest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import describe
from contracts.registry_events import EventRejected, ValidationPolicy, decode_event
from devtools.registries_mock.season import generate_season

BATCH = 2000
Raw = tuple[str, bytes]


def measure(name: str, events: Sequence[Raw], work: Callable[[str, bytes], object]) -> None:
    """The best of three passes over ``events`` in batches of ``BATCH``."""
    best_cpu = best_wall = 0.0
    for _ in range(3):
        cpu, wall = time.process_time(), time.perf_counter()
        for start in range(0, len(events), BATCH):
            for registry, raw in events[start : start + BATCH]:
                work(registry, raw)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        best_cpu = max(best_cpu, len(events) / cpu)
        best_wall = max(best_wall, len(events) / wall)
    print(
        f"{name:<46} {best_cpu:>10,.0f} events/s per core  "
        f"({best_wall:,.0f}/s wall, {len(events):,} events)"
    )


def decode(policy: ValidationPolicy) -> Callable[[str, bytes], object]:
    def run(registry: str, raw: bytes) -> object:
        try:
            return decode_event(raw, registry, policy)
        except EventRejected as rejected:
            return rejected

    return run


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=2000)
    args = parser.parse_args(argv)
    policy = ValidationPolicy(range(2023, 2027))
    season = generate_season(n_people=args.people, tax_year=2026, seed=1)
    valid = [(e.topic_registry, json.dumps(e.value).encode()) for e in season.events]
    invalid = []
    for registry, raw in valid:
        value = json.loads(raw)
        if registry == "payroll" and "data" in value:
            value["data"]["month"] = 13
            invalid.append((registry, json.dumps(value).encode()))

    started = time.perf_counter()
    decode_event(valid[0][1], valid[0][0], policy)
    print(f"first call (types built lazily): {(time.perf_counter() - started) * 1000:.0f} ms")
    measure("decode_event, valid events", valid, decode(policy))
    measure("decode_event, invalid events (first problem)", invalid, decode(policy))
    try:
        from contracts.registry_events import event_problems
    except ImportError:  # an older checkout, measured for the before/after table
        pass
    else:
        measure(
            "event_problems, invalid events (every problem)",
            invalid,
            lambda registry, raw: event_problems(raw, registry, policy),
        )

    def floor_json(_registry: str, raw: bytes) -> object:
        canonical = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    measure("floor: json.loads + digest", valid, floor_json)
    try:
        import msgspec
    except ImportError:
        pass
    else:
        plain, encoder = msgspec.json.Decoder(), msgspec.json.Encoder(order="sorted")
        measure(
            "floor: msgspec decode + digest",
            valid,
            lambda _r, raw: hashlib.sha256(encoder.encode(plain.decode(raw))).hexdigest(),
        )
    print(describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
