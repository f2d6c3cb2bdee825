"""SQLite's query plans of the SELECTs an engine runs on one table: lets a unit test fail
when a lookup scans the whole table (a cost that grows with every row written)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


class SelectPlans:
    """Records the SELECTs on ``table`` that ``engine`` runs; ``plans()`` explains them."""

    def __init__(self, engine: Engine, database: Path, table: str) -> None:
        self.database = database
        self.table = table
        self.seen: list[tuple[str, Any]] = []
        event.listen(engine, "before_cursor_execute", self._keep)

    def _keep(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and self.table in statement:
            self.seen.append((statement, parameters))

    def plans(self) -> list[str]:
        assert self.seen, f"nothing looked {self.table} up"
        with sqlite3.connect(self.database) as conn:
            return [
                " ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {s}", p))
                for s, p in self.seen
            ]
