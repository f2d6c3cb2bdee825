"""The fingerprint's canonical JSON is the same bytes with orjson as with the standard
library it replaced: ledgers keep the fingerprint of their last version, and other bytes
would make every taxpayer's next computation a new version with the same content."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.returns_v1 import canonical_bytes, canonical_bytes_stdlib, content_fingerprint

# what a return holds: strings (any Unicode a registry may send, control characters
# included), integers (tiyin), booleans, nulls, lists and objects; never floats
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | TEXT
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=500)
@given(VALUES)
def test_orjson_writes_the_standard_librarys_canonical_bytes(value: Any) -> None:
    assert canonical_bytes(value) == canonical_bytes_stdlib(value)


def test_what_orjson_refuses_goes_the_slow_way() -> None:
    huge = {"b": 2**70, "a": "é"}  # an integer beyond 64 bits
    assert canonical_bytes(huge) == canonical_bytes_stdlib(huge)
    assert json.loads(canonical_bytes(huge)) == huge


def test_the_fingerprint_ignores_what_changes_between_versions() -> None:
    value = {"pinfl": "30205746228885", "version": 1, "computed_at": "x", "return_id": "r"}
    later = dict(value, version=2, computed_at="y", return_id="s")
    assert content_fingerprint(value) == content_fingerprint(later)
    assert content_fingerprint(value) != content_fingerprint(dict(value, pinfl="1"))
