"""Amendments: what changed between two versions of a return, and why."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True, slots=True)
class LineChange:
    code: str
    subject: str
    before_tiyin: int | None  # None: the line is new
    after_tiyin: int | None  # None: the line is gone
    # Why: the registry records behind the line that changed, "payroll/PAY-1 r1->r2",
    # "rental/R-9 new" or "dividend/D-3 void".
    because: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (``because`` as a list)."""
        return {**dataclasses.asdict(self), "because": list(self.because)}


def _lines(value: Mapping[str, Any]) -> dict[tuple[str, str], Mapping[str, Any]]:
    out: dict[tuple[str, str], Mapping[str, Any]] = {}
    for line in value.get("lines", ()):
        out[(line["code"], line.get("subject", "") or "")] = line
    return out


def _sources(line: Mapping[str, Any] | None) -> dict[tuple[str, str], int]:
    if line is None:
        return {}
    return {(s["registry"], s["record_id"]): int(s["revision"]) for s in line.get("sources", ())}


def _because(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> tuple[str, ...]:
    old, new = _sources(before), _sources(after)
    reasons = []
    for key in sorted(old.keys() | new.keys()):
        name = f"{key[0]}/{key[1]}"
        if key not in old:
            reasons.append(f"{name} new")
        elif key not in new:
            reasons.append(f"{name} void")
        elif old[key] != new[key]:
            reasons.append(f"{name} r{old[key]}->r{new[key]}")
    return tuple(reasons)


def diff_versions(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[LineChange]:
    """Lines added, removed or changed in amount or sources, in the new version's order."""
    old, new = _lines(before), _lines(after)
    order = list(new) + [k for k in old if k not in new]
    changes = []
    for key in order:
        a, b = old.get(key), new.get(key)
        before_amount = None if a is None else int(a["amount_tiyin"])
        after_amount = None if b is None else int(b["amount_tiyin"])
        because = _because(a, b)
        if before_amount != after_amount or because:
            changes.append(LineChange(key[0], key[1], before_amount, after_amount, because))
    return changes


def summary(changes: list[LineChange], limit: int = 10) -> str:
    """One line for a notice's details: ``code[subject]: before -> after; ...``."""

    def amount(x: int | None) -> str:
        return "-" if x is None else str(x)

    parts = [
        f"{c.code}{f'[{c.subject}]' if c.subject else ''}: "
        f"{amount(c.before_tiyin)} -> {amount(c.after_tiyin)}"
        for c in changes[:limit]
    ]
    if len(changes) > limit:
        parts.append(f"... {len(changes) - limit} more")
    return "; ".join(parts)
