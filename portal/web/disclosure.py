"""Statistical disclosure control of the dashboard's counts of people (issue 14).

One function, ``protect``, applied once to the figures of a year (``figures.py``), so the
pages, the CSV exports and ``/metrics`` all show the same protected numbers:

1. Primary suppression: a count of people above 0 and below the threshold
   (``PROACTAX_PORTAL_MIN_CELL``, default 5) is never shown; it reads ``<5``.
2. Complementary suppression: each protected column adds up to a published margin (the
   step's total in the funnel), so one hidden cell could be recovered by subtraction.
   Whenever a column hides anything, it hides at least two non-zero cells whose sum is
   at least the threshold and more than their number (the smallest other cells are
   hidden with them): the margin then leaves at least two values for each hidden cell.
3. A margin below the threshold is itself hidden, and with it every cell of its column;
   so is a margin whose column holds only ones (it would say "one person in each").

Zeros stay visible (nobody is no one). Cumulative counts by day are shown rounded down to
a multiple of the threshold (a difference of two of them is then no exact count).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any


def hidden(threshold: int) -> str:
    """How a suppressed cell reads on pages and in CSVs (never a number)."""
    return f"<{threshold}"


def is_shown(value: Any) -> bool:
    """A count that may be drawn or exported as a number."""
    return isinstance(value, int) and not isinstance(value, bool)


def protect_margins(
    totals: Mapping[str, int], threshold: int, exposing: Collection[str] = ()
) -> dict[str, int | str]:
    """Totals (margins): a total above 0 and below the threshold is hidden, and so is one
    whose breakdown would give every group away (``all_ones``)."""
    return {
        k: hidden(threshold) if 0 < v < threshold or (v and threshold > 1 and k in exposing) else v
        for k, v in totals.items()
    }


def protect(
    rows: Sequence[Sequence[Any]],
    columns: Sequence[int],
    margins: Sequence[int | str | None],
    threshold: int,
) -> tuple[tuple[Any, ...], ...]:
    """``rows`` with the counts in ``columns`` protected; ``margins[i]`` is the published
    total of ``columns[i]`` (an int), hidden (a str), or None when no total is published."""
    out = [list(row) for row in rows]
    for column, margin in zip(columns, margins, strict=True):
        values = [int(row[column]) for row in rows]
        if isinstance(margin, str):  # the total is hidden: so is every non-zero cell
            chosen = {i for i, v in enumerate(values) if v > 0}
        else:
            chosen = _suppressed(values, threshold, complement=margin is not None)
        for i in chosen:
            out[i][column] = hidden(threshold)
    return tuple(tuple(row) for row in out)


def _suppressed(values: Sequence[int], threshold: int, *, complement: bool) -> set[int]:
    chosen = {i for i, v in enumerate(values) if 0 < v < threshold}
    if not chosen or not complement:
        return chosen
    others = sorted((v, i) for i, v in enumerate(values) if v > 0 and i not in chosen)
    while others and not _safe(sum(values[i] for i in chosen), len(chosen), threshold):
        chosen.add(others.pop(0)[1])
    return chosen


def _safe(total: int, hidden: int, threshold: int) -> bool:
    """Hidden cells known to be at least 1 and to add up to ``total`` leave each at least
    two possible values, and their sum reaches the threshold."""
    return hidden >= 2 and total >= max(threshold, hidden + 1)


def all_ones(values: Sequence[int]) -> bool:
    """Every non-zero cell is 1: then the total alone says so (each group holds exactly one
    person), whatever is hidden: such a total must be hidden too."""
    nonzero = [v for v in values if v]
    return len(nonzero) >= 2 and all(v == 1 for v in nonzero)


def round_down(value: int, threshold: int) -> int:
    return value - value % threshold
