"""Every Kafka consumer in product code reads ``read_committed``: the registry path writes
returns, dead letters and releases in transactions, and a consumer left at aiokafka's
default (``read_uncommitted``) would see an aborted batch's records."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("agents", "bench", "contracts", "core", "devtools", "lifecycle", "notifier", "ops",
           "portal", "proactax", "storage", "streams", "tax")  # fmt: skip


def consumers_without_read_committed(source: str) -> list[int]:
    """Lines of ``AIOKafkaConsumer(...)`` calls that neither pass
    ``isolation_level="read_committed"`` nor spread ``consumer_options(settings)``
    (streams/committed.py, which carries it)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        if name != "AIOKafkaConsumer":
            continue
        ok = False
        for keyword in node.keywords:
            value = keyword.value
            if keyword.arg == "isolation_level":
                ok = isinstance(value, ast.Constant) and value.value == "read_committed"
            elif keyword.arg is None and isinstance(value, ast.Call):
                called = value.func
                ok = ok or getattr(called, "id", getattr(called, "attr", "")) == "consumer_options"
        if not ok:
            found.append(node.lineno)
    return found


def test_the_scan_finds_a_consumer_left_at_the_default() -> None:
    bad = 'c = AIOKafkaConsumer("t", bootstrap_servers="x")\n'
    wrong = 'c = aiokafka.AIOKafkaConsumer("t", isolation_level="read_uncommitted")\n'
    good = 'c = AIOKafkaConsumer("t", isolation_level="read_committed")\n'
    spread = "c = AIOKafkaConsumer(group_id='g', **consumer_options(settings))\n"
    assert consumers_without_read_committed(bad) == [1]
    assert consumers_without_read_committed(wrong) == [1]
    assert consumers_without_read_committed(good) == []
    assert consumers_without_read_committed(spread) == []


def test_every_product_consumer_reads_committed() -> None:
    offenders = []
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            for line in consumers_without_read_committed(path.read_text(encoding="utf-8")):
                offenders.append(f"{path.relative_to(ROOT)}:{line}")
    assert offenders == []


def test_every_test_helper_consumer_reads_committed() -> None:
    """Test helpers read returns.v1, the dead letters and year_released like the product."""
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for line in consumers_without_read_committed(path.read_text(encoding="utf-8")):
            offenders.append(f"{path.relative_to(ROOT)}:{line}")
    assert offenders == []
