"""The tax package stays pure: no I/O library, no environment, no clock (ARCHITECTURE.md).

The one file read allowed is the packaged parameter YAML, through importlib.resources,
in ``tax/parameters/__init__.py`` and only when ``load_parameters()`` is called.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

TAX = Path(__file__).resolve().parents[3] / "tax"
MODULES = sorted(TAX.rglob("*.py"))
LOADER = TAX / "parameters" / "__init__.py"

FORBIDDEN_IMPORTS = {
    "faust",
    "aiokafka",
    "sqlalchemy",
    "telegram",
    "jinja2",
    "requests",
    "httpx",
    "aiohttp",
    "urllib",
    "socket",
    "http",
    "os",
    "pathlib",
    "shutil",
    "subprocess",
    "time",
    "random",
    "asyncio",
    "sqlite3",
    "psycopg",
    "logging",
}
FORBIDDEN_CALLS = {"now", "today", "utcnow", "getenv", "open", "time", "perf_counter"}
FORBIDDEN_ATTRIBUTES = {"environ"}


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _id(path: Path) -> str:
    return str(path.relative_to(TAX.parent))


def test_the_package_has_modules() -> None:
    assert len(MODULES) > 10


@pytest.mark.parametrize("path", MODULES, ids=_id)
def test_no_forbidden_imports(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots = {name.split(".")[0] for name in _imports(tree)}
    assert not roots & FORBIDDEN_IMPORTS, f"{_id(path)} imports {roots & FORBIDDEN_IMPORTS}"
    if path != LOADER:
        assert "importlib" not in roots, f"{_id(path)}: only the parameter loader reads files"


@pytest.mark.parametrize("path", MODULES, ids=_id)
def test_no_clock_environment_or_file_access(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            assert name not in FORBIDDEN_CALLS, f"{_id(path)}:{node.lineno} calls {name}()"
        if isinstance(node, ast.Attribute):
            assert node.attr not in FORBIDDEN_ATTRIBUTES, f"{_id(path)}:{node.lineno}"


@pytest.mark.parametrize("path", MODULES, ids=_id)
def test_nothing_is_loaded_at_import_time(path: Path) -> None:
    """Module-level statements may define things, never call the loader."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(statement):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                assert name not in {"load_parameters", "packaged_parameter_files", "files"}, (
                    f"{_id(path)}:{node.lineno} loads at import time"
                )


def test_importing_tax_reads_nothing_and_pulls_no_io_library() -> None:
    """In a fresh interpreter: ``import tax`` loads no parameters and no I/O library."""
    probe = (
        "import sys, tax, tax.parameters as p;"
        "heavy = {'faust','aiokafka','sqlalchemy','telegram','jinja2','httpx','requests'};"
        "print(p.load_parameters.cache_info().currsize, sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=TAX.parent, check=True
    ).stdout.split(maxsplit=1)
    assert out == ["0", "[]\n"]
