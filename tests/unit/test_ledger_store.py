"""A ledger kept entry by entry (agents/ledger_store.py), over a plain sorted dict store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agents.ledger_store import LedgerEntries, event_entry, record_entry


class DictStore:
    def __init__(self, held: dict[str, Any]) -> None:
        self.held = held

    def get(self, key: str) -> Any:
        return self.held.get(key)

    def put(self, key: str, value: Any) -> None:
        self.held[key] = value

    def items(self, prefix: str = "", after: str | None = None) -> Iterator[tuple[str, Any]]:
        for key in sorted(self.held):
            if key.startswith(prefix) and (after is None or key > after):
                yield key, self.held[key]


def record(n: int) -> dict[str, Any]:
    return {"registry": "payroll", "record_id": f"r{n}", "revision": n, "action": "upsert"}


A, B, C = "2026:11111111111111", "2026:22222222222222", "2026:33333333333333"


def test_a_year_walk_yields_each_ledger_once_with_its_records_after_the_cursor() -> None:
    store = DictStore(
        {
            record_entry(A, "payroll/r1"): record(1),
            record_entry(B, "payroll/r2"): record(2),
            record_entry(B, "payroll/r3"): record(3),
            event_entry(B, "payroll:e3"): "digest-3",  # event ids: outside the year
            B: {"records": {"payroll/r0": record(0)}, "events": {}},  # written whole
            record_entry(C, "payroll/r4"): record(4),
            "2027:11111111111111\x1fpayroll/r9": record(9),
            "published/" + A: {"version": 1, "fingerprint": "f"},
        }
    )
    walked = list(LedgerEntries(store).of_year("2026:", None))
    assert [key for key, _ in walked] == [A, B, C]
    assert sorted(walked[1][1]["records"]) == ["payroll/r0", "payroll/r2", "payroll/r3"]
    assert walked[1][1]["events"] == {}
    resumed = list(LedgerEntries(store).of_year("2026:", B))  # B's entries sort after B
    assert [key for key, _ in resumed] == [C]


def test_an_entry_written_since_is_read_over_the_ledger_written_whole() -> None:
    old, new = record(1), dict(record(1), revision=5)
    store = DictStore(
        {
            A: {"records": {"payroll/r1": old, "payroll/r2": record(2)}, "events": {}},
            record_entry(A, "payroll/r1"): new,
        }
    )
    ledger = LedgerEntries(store).records_of(A)
    assert ledger["records"] == {"payroll/r1": new, "payroll/r2": record(2)}
