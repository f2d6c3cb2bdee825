"""The reproducibility hash's canonical JSON is the same bytes with orjson as with the
standard library it replaced: a stored return's hash must stay reproducible."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings

from tax.hashing import canonical_json, canonical_json_stdlib
from tests.unit.test_returns_fingerprint import VALUES  # what a payload holds: never floats


@settings(max_examples=500)
@given(VALUES)
def test_orjson_writes_the_standard_librarys_bytes(value: Any) -> None:
    assert canonical_json(value) == canonical_json_stdlib(value)


def test_an_integer_beyond_64_bits_goes_the_slow_way() -> None:
    value = {"b": 2**70, "a": "ё"}
    assert canonical_json(value) == canonical_json_stdlib(value)
