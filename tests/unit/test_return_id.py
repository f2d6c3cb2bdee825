"""A return's id is uuid5 of its (PINFL, year): stored with every version, it never changes."""

from __future__ import annotations

from agents.returns_builder import return_id


def test_return_id_of_a_known_taxpayer_is_stable() -> None:
    # the id stored with every version of this return since the first: it never changes
    assert return_id("30205746228885", 2026) == "f4e56fc9-0ec3-501d-99f2-7ab829003464"
