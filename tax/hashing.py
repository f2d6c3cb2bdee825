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

from tax.facts import Facts


def canonical_json(value: Any) -> bytes:
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
