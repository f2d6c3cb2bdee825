"""Registry-event validation throughput: ``decode_event`` on a mock season, one core.

Prints events/s for valid events, for invalid ones (the slow path explains the error with
jsonschema), and the floor of a bare ``json.loads`` plus the content digest.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import describe
from contracts.registry_events import EventRejected, ValidationPolicy, decode_event
from registries_mock.season import generate_season


def rate(count: int, started: float) -> str:
    elapsed = time.perf_counter() - started
    return f"{count} events in {elapsed:.2f} s = {count / elapsed:,.0f} events/s"


def main() -> int:
    policy = ValidationPolicy(range(2023, 2027))
    season = generate_season(n_people=300, tax_year=2026, seed=1)
    valid = [(e.topic_registry, json.dumps(e.value).encode()) for e in season.events]
    invalid = []
    for registry, raw in valid:
        value = json.loads(raw)
        if registry == "payroll" and "data" in value:
            value["data"]["month"] = 13
            invalid.append((registry, json.dumps(value).encode()))

    started = time.perf_counter()
    decode_event(valid[0][1], valid[0][0], policy)
    print(
        f"first call (validators compiled lazily): {(time.perf_counter() - started) * 1000:.0f} ms"
    )
    for _ in range(2):
        started = time.perf_counter()
        for registry, raw in valid:
            decode_event(raw, registry, policy)
        print("valid:   " + rate(len(valid), started))
    started = time.perf_counter()
    for registry, raw in invalid:
        try:
            decode_event(raw, registry, policy)
        except EventRejected:
            pass
    print("invalid: " + rate(len(invalid), started))
    started = time.perf_counter()
    for _, raw in valid:
        canonical = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"))
        hashlib.sha256(canonical.encode()).hexdigest()
    print("floor (json.loads + digest): " + rate(len(valid), started))
    print(describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
