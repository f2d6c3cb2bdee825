"""docs/tax-rules.md and the engine cannot drift: names in one must be in the other."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tax import LINE_SPECS, load_parameters

DOC = Path(__file__).resolve().parents[3] / "docs" / "tax-rules.md"
TEXT = DOC.read_text(encoding="utf-8")
PARAMETERS = sorted(load_parameters().parameters)
PREFIXES = tuple(sorted({name.split(".")[0] + "." for name in PARAMETERS}))


@pytest.mark.parametrize("name", PARAMETERS)
def test_every_parameter_is_documented(name: str) -> None:
    assert f"`{name}`" in TEXT


@pytest.mark.parametrize("code", sorted(LINE_SPECS))
def test_every_line_code_and_label_key_is_documented(code: str) -> None:
    assert f"`{code}`" in TEXT
    assert f"`{LINE_SPECS[code].code}`" in TEXT


def test_every_name_in_the_doc_exists() -> None:
    """A backticked dotted name that looks like a parameter must be one (or a line code)."""
    known = set(PARAMETERS) | set(LINE_SPECS)
    named = set(re.findall(r"`([a-z_]+(?:\.[a-z_]+)+)`", TEXT))
    stale = sorted(n for n in named if n.startswith(PREFIXES) and n not in known)
    assert not stale, f"docs/tax-rules.md names unknown parameters: {stale}"


def test_declaration_reasons_are_documented() -> None:
    for reason in ("rental_individual_tenant", "property_sale_taxable"):
        assert f"`{reason}`" in TEXT
