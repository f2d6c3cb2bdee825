"""The reproducibility hash's canonical JSON is the same bytes with orjson as with the
standard library it replaced: a stored return's hash must stay reproducible."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tax.hashing import canonical_json, canonical_json_stdlib

# what a payload holds: any Unicode text (control characters included), integers,
# booleans, nulls, lists and objects; never floats
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | TEXT
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=500)
@given(VALUES)
def test_orjson_writes_the_standard_librarys_bytes(value: Any) -> None:
    assert canonical_json(value) == canonical_json_stdlib(value)


def test_an_integer_beyond_64_bits_goes_the_slow_way() -> None:
    value = {"b": 2**70, "a": "ё"}
    assert canonical_json(value) == canonical_json_stdlib(value)
