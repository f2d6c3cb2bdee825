"""A return's id is uuid5 of its (PINFL, year), written out without ``uuid.UUID``."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from agents.returns_builder import _RETURN_IDS, return_id


@given(
    pinfl=st.text(alphabet="0123456789", min_size=14, max_size=14)
    | st.text(min_size=0, max_size=40),  # any name hashes alike (sandbox keys, say)
    tax_year=st.integers(min_value=1900, max_value=2200),
)
def test_return_id_is_uuid5_of_pinfl_and_year(pinfl: str, tax_year: int) -> None:
    assert return_id(pinfl, tax_year) == str(uuid.uuid5(_RETURN_IDS, f"{pinfl}:{tax_year}"))


def test_return_id_of_a_known_taxpayer_is_stable() -> None:
    # the id stored with every version of this return since the first: it never changes
    assert return_id("30205746228885", 2026) == "f4e56fc9-0ec3-501d-99f2-7ab829003464"
