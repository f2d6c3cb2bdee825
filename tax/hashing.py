"""Canonical JSON and the reproducibility hash of a return.

The hash covers the taxpayer, the tax year, every active record (registry, id,
revision, data) sorted by (registry, record_id), the parameter set version and the
engine version: the same inputs in any order give the same hash; any change to an input,
a parameter file or the engine gives a different one.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson

from tax.facts import Facts


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8. Stored hashes depend on these exact bytes: orjson
    writes the same ones as the standard library for everything a payload holds (strings,
    integers, booleans, nulls; never floats: money is integer tiyin and no registry field
    is a JSON number with a fraction; tests/unit/tax/test_hashing_bytes.py) at a tenth of
    the cost; what it refuses (an integer beyond 64 bits) goes the slow way."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return canonical_json_stdlib(value)


def canonical_json_stdlib(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def reproducibility_hash(facts: Facts, parameters_version: str, engine_version: str) -> str:
    payload = {
        "engine_version": engine_version,
        "parameters_version": parameters_version,
        "pinfl": facts.pinfl,
        "tax_year": facts.tax_year,
        "records": [
            {
                "registry": r.registry,
                "record_id": r.record_id,
                "revision": r.revision,
                "data": dict(r.data),
            }
            for r in facts.records
        ],
    }
    return hashlib.sha256(canonical_json(payload)).hexdigest()
