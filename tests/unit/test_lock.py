"""requirements.lock is current (issue 14, "Dependencies"): every requirement of
pyproject.toml (dependencies, the dev extra, the build system) is pinned there with a version
it allows, the lock pins nothing pyproject.toml no longer asks for, and every pin carries
hashes (``pip install --require-hashes`` in ``make venv``). Fix a failure with ``make lock``."""

from __future__ import annotations

import re
import tomllib
from collections import defaultdict
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def pyproject_requirements() -> list[Requirement]:
    doc = tomllib.loads((REPO / "pyproject.toml").read_text())
    texts = [
        *doc["project"]["dependencies"],
        *doc["project"]["optional-dependencies"]["dev"],
        *doc["build-system"]["requires"],
    ]
    return [Requirement(text) for text in texts]


def lock_entries(text: str) -> list[tuple[str, str, str]]:
    """``(name, version, block)`` per pin; the block holds its hashes and ``# via`` lines."""
    entries: list[tuple[str, str, str]] = []
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        match = PIN.match(block)
        if match:
            entries.append((canonicalize_name(match[1]), match[2], block))
    return entries


def test_every_pyproject_requirement_is_pinned_in_the_lock() -> None:
    pins: dict[str, list[str]] = defaultdict(list)
    for name, version, _ in lock_entries((REPO / "requirements.lock").read_text()):
        pins[name].append(version)
    stale = [
        str(req)
        for req in pyproject_requirements()
        if not any(
            req.specifier.contains(v, prereleases=True) for v in pins[canonicalize_name(req.name)]
        )
    ]
    assert not stale, f"requirements.lock is stale (run `make lock`): {stale}"


def test_the_lock_pins_nothing_pyproject_dropped_and_hashes_everything() -> None:
    wanted = {canonicalize_name(req.name) for req in pyproject_requirements()}
    entries = lock_entries((REPO / "requirements.lock").read_text())
    assert len(entries) > 50
    direct = {name for name, _, block in entries if "proactax (pyproject.toml)" in block}
    assert direct, "the lock does not say which pins pyproject.toml asked for"
    assert direct <= wanted, f"pinned for pyproject.toml but no longer in it: {direct - wanted}"
    unhashed = [name for name, _, block in entries if "--hash=sha256:" not in block]
    assert not unhashed, unhashed


def test_the_check_sees_a_stale_lock() -> None:
    """The parser above against a lock that pins an older, now disallowed version."""
    old = "fastapi==0.100.0 \\\n    --hash=sha256:00\n    # via proactax (pyproject.toml)\n"
    ((name, version, _),) = lock_entries(old)
    (req,) = [r for r in pyproject_requirements() if canonicalize_name(r.name) == name]
    assert not req.specifier.contains(version)
