"""docs/architecture.md shows the layers the linter checks and the imports the code has.

import-linter (``make lint``) keeps the code inside the contracts of pyproject.toml's
``[tool.importlinter]``; this test keeps the page equal to those contracts (the diagram and
the layer table), and its package table's ``imports`` column equal to the code's imports.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
CONFIG: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"][
    "importlinter"
]
PACKAGES: list[str] = CONFIG["root_packages"]
CONTRACTS: dict[str, dict[str, Any]] = {c["id"]: c for c in CONFIG["contracts"]}
LAYERS: list[list[str]] = [
    [name.strip() for name in layer.split("|")] for layer in CONTRACTS["layers"]["layers"]
]


def _section(title: str) -> str:
    start = DOC.index(f"\n## {title}\n")
    end = DOC.find("\n## ", start + 1)
    return DOC[start : end if end != -1 else len(DOC)]


def _table(section: str, header: str) -> list[list[str]]:
    """The rows of the markdown table whose header line starts with ``header``."""
    lines = section[section.index(header) :].splitlines()[2:]
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
        rows.append([cell.strip().replace("\\|", "|") for cell in cells])
    return rows


def _ours(cell: str) -> set[str]:
    return {name for name in re.findall(r"`([a-z_]+)`", cell) if name in PACKAGES}


def test_every_package_of_ours_is_under_the_contracts() -> None:
    on_disk = {
        p.name
        for p in ROOT.iterdir()
        if (p / "__init__.py").exists() and p.name not in {"tests", "bench"}
    }
    assert set(PACKAGES) == on_disk
    assert sorted(n for layer in LAYERS for n in layer) == sorted(PACKAGES)


def test_the_layer_table_is_the_layers_contract() -> None:
    rows = _table(_section("Layers"), "| layer | packages |")
    assert [row[0] for row in rows] == [str(i) for i in range(1, len(LAYERS) + 1)]
    documented = [[name.strip(" `") for name in row[1].split("|")] for row in rows]
    assert documented == LAYERS


def test_the_diagram_is_the_layers_contract() -> None:
    block = _section("Layers").split("```")[1]
    lines = [line for line in block.splitlines() if line.strip() and line.strip() != "▼"]
    # the names end where the descriptions start (the column of the first description)
    column = lines[0].index(lines[0].split()[1])
    assert [[n.strip() for n in line[:column].split("│")] for line in lines] == LAYERS


def test_the_port_table_names_every_other_contract() -> None:
    rows = _table(_section("Layers"), "| contract | rule |")
    assert {row[0].strip("`") for row in rows} == set(CONTRACTS) - {"layers"}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES)


def test_the_package_table_lists_what_each_package_imports(graph: grimp.ImportGraph) -> None:
    rows = {row[0].strip("`/"): row[2] for row in _table(_section("Packages"), "| package |")}
    assert set(PACKAGES) <= set(rows)
    for package in PACKAGES:
        actual = {
            other
            for other in PACKAGES
            if other != package
            and graph.direct_import_exists(importer=package, imported=other, as_packages=True)
        }
        assert _ours(rows[package]) == actual, package
