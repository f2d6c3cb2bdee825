"""No private attribute of a library and no monkey-patching in product code (issue 13).

A static scan (ast) of every product package for:
- ``x._name`` on anything but ``self``/``cls``, a class of the same module or one of our
  own modules (``_name`` not a dunder);
- ``getattr``/``setattr``/``hasattr``/``delattr`` with a ``"_..."`` name;
- monkey-patching: assigning an attribute of an imported library module or name, or of a
  function parameter typed ``Any`` or as a library type (``stream.ack = ...``).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OURS = (
    "proactax",
    "tax",
    "contracts",
    "streams",
    "agents",
    "storage",
    "notifier",
    "portal",
    "core",
    "ops",
    "devtools",
    "lifecycle",
)
ACCESSORS = {"getattr", "setattr", "hasattr", "delattr"}
# Library objects whose documentation invites changing them in place: a logging.Filter "can
# modify log records in-place" (the logging docs), which is how proactax/logs.py redacts.
MUTABLE_BY_CONTRACT = {"logging.LogRecord"}


def _is_ours(module: str | None) -> bool:
    return module is not None and (module.split(".")[0] in OURS or module.startswith("."))


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _library_names(tree: ast.Module) -> set[str]:
    """Names bound by imports of something not ours (modules and what they export)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not _is_ours(alias.name):
                    names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and not _is_ours(node.module) and node.level == 0:
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def _our_names(tree: ast.Module) -> set[str]:
    names = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names if _is_ours(a.name))
        elif isinstance(node, ast.ImportFrom) and (_is_ours(node.module) or node.level > 0):
            names.update(a.asname or a.name for a in node.names)
    return names


def _library_params(tree: ast.Module, library: set[str]) -> dict[ast.AST, set[str]]:
    """Per function: its parameters typed Any or as a library type."""
    found: dict[ast.AST, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            params = set()
            for arg in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs):
                if arg.annotation is None:
                    continue
                root = arg.annotation
                while isinstance(root, ast.Attribute | ast.Subscript):
                    root = root.value
                if ast.unparse(arg.annotation) in MUTABLE_BY_CONTRACT:
                    continue
                if isinstance(root, ast.Name) and (root.id == "Any" or root.id in library):
                    params.add(arg.arg)
            found[node] = params
    return found


def violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    library, ours = _library_names(tree), _our_names(tree)
    params = _library_params(tree, library)
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            base = node.value
            if not (isinstance(base, ast.Name) and (base.id in {"self", "cls"} | ours)):
                found.append(f"{where}:{node.lineno}: private {ast.unparse(node)}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ACCESSORS
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and _private(str(node.args[1].value))
        ):
            found.append(f"{where}:{node.lineno}: private {ast.unparse(node)}")
    for function, typed in params.items():
        for node in ast.walk(function):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.AugAssign | ast.AnnAssign):
                targets = [node.target]
            for target in targets:
                base = target.value if isinstance(target, ast.Attribute) else None
                if isinstance(base, ast.Name) and base.id in typed | library:
                    found.append(f"{where}:{node.lineno}: patches {ast.unparse(target)}")
    for node in ast.walk(tree):  # module level: patching an imported library
        if isinstance(node, ast.Assign) and node in tree.body:
            for target in node.targets:
                base = target.value if isinstance(target, ast.Attribute) else None
                if isinstance(base, ast.Name) and base.id in library:
                    found.append(f"{where}:{node.lineno}: patches {ast.unparse(target)}")
    return sorted(set(found))


def product_files() -> list[Path]:
    return sorted(path for package in OURS for path in (ROOT / package).rglob("*.py"))


def test_product_code_touches_no_private_attribute_and_patches_no_library() -> None:
    found = [line for path in product_files() for line in violations(path)]
    assert found == []


def test_the_scan_finds_what_it_forbids(tmp_path: Path) -> None:
    """The shapes the registry agent of earlier versions had (faust's private maps, the
    replaced ``stream.ack``), so this scan can fail."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from typing import Any\n"
        "import os\n"
        "import faust\n"
        "def wire(app: Any, stream: Any, table: Any) -> None:\n"
        "    offsets = getattr(app.consumer, '_read_offset', None)\n"
        "    table.data._key_partition['k'] = 1\n"
        "    stream.ack = print\n"
        "    os._exit(70)\n"
        "faust.App = object\n",
        encoding="utf-8",
    )
    found = violations(sample)
    assert sorted(line.split(": ", 1)[1] for line in found) == [
        "patches faust.App",
        "patches stream.ack",
        "private getattr(app.consumer, '_read_offset', None)",
        "private os._exit",
        "private table.data._key_partition",
    ]
