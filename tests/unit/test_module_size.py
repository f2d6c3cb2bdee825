"""No product module over 600 lines (issue 18): a module that grows past it is split along
its seams (one repository, one group of events, one concept per module)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PRODUCT = ("agents", "contracts", "core", "lifecycle", "notifier", "ops", "portal", "proactax",
           "storage", "streams", "tax")  # fmt: skip
LIMIT = 600


def test_no_product_module_is_over_600_lines() -> None:
    sizes = {
        path.relative_to(REPO).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for package in PRODUCT
        for path in (REPO / package).rglob("*.py")
        if "migrations" not in path.parts
    }
    assert len(sizes) > 100
    over = {name: n for name, n in sizes.items() if n > LIMIT}
    assert over == {}
