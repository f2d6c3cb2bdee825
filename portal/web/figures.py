"""The dashboard's figures for one tax year, computed once (and cached a few seconds) for
the pages, the CSV exports and ``/metrics`` alike. Aggregates only: no PINFL, name or phone
is in any table here (the disputes queue is read separately, masked), and no count of
people below the threshold (``disclosure.py``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from collections import OrderedDict
from typing import Any

from core.clock import TASHKENT, Clock
from core.settings import Settings
from portal.web import disclosure
from storage.portal.dashboard import FUNNEL_STEPS


@dataclasses.dataclass(frozen=True, slots=True)
class Table:
    """One exportable table: column keys (CSV header) and rows."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def column(self, key: str) -> list[Any]:
        i = self.columns.index(key)
        return [row[i] for row in self.rows]


@dataclasses.dataclass(frozen=True, slots=True)
class YearFigures:
    tax_year: int
    computed_at: dt.datetime
    tables: dict[str, Table]
    funnel: dict[str, int | str]  # step -> taxpayers who ever reached it (or "<5": hidden)
    returns: int
    amounts: dict[str, int]
    planner: dict[str, Any]
    survey_average: float | None
    survey_responses: int


TABLE_NAMES = (
    "funnel",
    "funnel_daily",
    "breakdown_region",
    "breakdown_sex",
    "breakdown_age_band",
    "breakdown_channel",
    "amounts",
    "money_daily",
    "disputes_by_status",
    "deliveries",
    "feed_events",
    "feed_deadletters",
    "feed_closures",
    "planner",
    "satisfaction",
    "satisfaction_channel",
    "satisfaction_region",
    "satisfaction_sex",
    "satisfaction_age_band",
)


class Figures:
    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        lifecycle: Any,
        notifier: Any,
        dashboard: Any,
        feed: Any,
        surveys: Any,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.lifecycle = lifecycle
        self.notifier = notifier
        self.dashboard = dashboard
        self.feed = feed
        self.surveys = surveys
        # LRU, at most portal_dashboard_cache_years years (the years are checked before)
        self._cache: OrderedDict[int, tuple[float, YearFigures]] = OrderedDict()
        self._lock = threading.Lock()

    def default_year(self) -> int:
        known = [int(y) for y in self.dashboard.tax_years() if int(y) in self.settings.tax_years]
        return known[-1] if known else self.settings.tax_year_max

    def for_year(self, tax_year: int) -> YearFigures:
        ttl = self.settings.portal_dashboard_cache_s
        if tax_year not in self.settings.tax_years:
            raise ValueError(f"year: not a tax year the service knows ({tax_year})")
        with self._lock:
            held = self._cache.get(tax_year)
            if held is not None and time.monotonic() - held[0] < ttl:
                self._cache.move_to_end(tax_year)
                return held[1]
            figures = self._compute(tax_year)
            self._cache[tax_year] = (time.monotonic(), figures)
            self._cache.move_to_end(tax_year)
            while len(self._cache) > self.settings.portal_dashboard_cache_years:
                self._cache.popitem(last=False)
            return figures

    def cached_years(self) -> list[int]:
        with self._lock:
            return list(self._cache)

    def _compute(self, year: int) -> YearFigures:
        tables: dict[str, Table] = {}
        daily = self.dashboard.funnel_by_day(year)
        totals = dict.fromkeys(FUNNEL_STEPS, 0)
        rows = []
        for day, steps in daily.items():
            for step in FUNNEL_STEPS:
                totals[step] += steps.get(step, 0)
            rows.append(
                (day, *(steps.get(s, 0) for s in FUNNEL_STEPS), *(totals[s] for s in FUNNEL_STEPS))
            )
        # Counts of people pass through disclosure.protect once, here: the pages, the CSVs
        # and /metrics all read these tables (docs/security.md).
        t = self.settings.portal_min_cell
        breakdowns = self.dashboard.breakdowns(year)
        exposing = {
            s for s in FUNNEL_STEPS
            if disclosure.all_ones([steps_.get(s, 0) for steps_ in daily.values()])
            or any(disclosure.all_ones([cell.get(s, 0) for cell in groups.values()])
                   for groups in breakdowns.values())
        }  # fmt: skip
        shown = disclosure.protect_margins(totals, t, exposing)
        margins = [shown[s] for s in FUNNEL_STEPS]
        steps = range(1, 1 + len(FUNNEL_STEPS))
        daily_rows = [
            (*row[: 1 + len(FUNNEL_STEPS)],
             *(_cumulative(v, t) for v in row[1 + len(FUNNEL_STEPS):]))
            for row in rows
        ]  # fmt: skip
        tables["funnel_daily"] = Table(
            "funnel_daily",
            ("day", *FUNNEL_STEPS, *(f"{s}_cumulative" for s in FUNNEL_STEPS)),
            disclosure.protect(daily_rows, steps, margins, t),
        )
        lifecycle = self.lifecycle.funnel(year)
        returns = int(lifecycle.get("returns", 0))
        tables["funnel"] = Table(
            "funnel",
            ("step", "taxpayers", "share_of_computed"),
            tuple(
                (s, shown[s], _share(totals[s], totals["computed"])
                 if disclosure.is_shown(shown[s]) and disclosure.is_shown(shown["computed"])
                 else disclosure.hidden(t))
                for s in FUNNEL_STEPS
            ),
        )  # fmt: skip
        for dim, groups in breakdowns.items():
            tables[f"breakdown_{dim}"] = Table(
                f"breakdown_{dim}",
                (dim, *FUNNEL_STEPS),
                disclosure.protect(
                    [(g, *(cell.get(s, 0) for s in FUNNEL_STEPS)) for g, cell in groups.items()],
                    steps,
                    margins,
                    t,
                ),
            )
        amounts = {
            "assessed_tiyin": int(lifecycle.get("assessed_tiyin", 0)),
            "collected_tiyin": int(lifecycle.get("collected_tiyin", 0)),
            "interest_collected_tiyin": int(lifecycle.get("interest_collected_tiyin", 0)),
            "refund_due_tiyin": self.dashboard.refund_due_tiyin(year),
            "refunded_tiyin": int(lifecycle.get("refunded_tiyin", 0)),
            "refund_interest_paid_tiyin": int(lifecycle.get("refund_interest_paid_tiyin", 0)),
        }
        tables["amounts"] = Table("amounts", ("measure", "tiyin"), tuple(amounts.items()))
        money = self.dashboard.money_by_day(year)
        tables["money_daily"] = Table(
            "money_daily",
            ("day", "collected_tiyin", "refunded_tiyin"),
            tuple((d, m.get("payment", 0), m.get("refund", 0)) for d, m in money.items()),
        )
        statuses = self.dashboard.dispute_statuses(year)
        tables["disputes_by_status"] = Table(
            "disputes_by_status", ("status", "disputes"), tuple(sorted(statuses.items()))
        )
        deliveries = self.notifier.delivery_counts()
        tables["deliveries"] = Table(
            "deliveries",
            ("channel", "status", "count"),
            tuple(
                (c, s, n)
                for c, by_status in sorted(deliveries.items())
                for s, n in sorted(by_status.items())
            ),
        )
        self._feed_tables(tables)
        planner = self.notifier.projection().as_dict()
        tables["planner"] = Table(
            "planner",
            ("channel", "kind", "deadline", "count", "starts_at", "completes_at", "on_time",
             "slack_s"),
            tuple(
                (w["channel"], w["kind"], w["deadline"] or "", w["count"], w["starts_at"],
                 w["completes_at"], w["on_time"], w["slack_s"] if w["slack_s"] is not None else "")
                for w in planner["waves"]
            ),
        )  # fmt: skip
        scores = self.surveys.scores(year)
        tables["satisfaction"] = Table(
            "satisfaction",
            ("score", "responses"),
            tuple((s, scores.by_score.get(s, 0)) for s in range(1, 6)),
        )
        # Answers of both channels (portal, Telegram) by channel, region, sex and age band:
        # counts of people, protected like the funnel's breakdowns.
        answered = disclosure.protect_margins({"responses": scores.responses}, t)["responses"]
        for dim, groups in self.surveys.breakdowns(year).items():
            tables[f"satisfaction_{dim}"] = Table(
                f"satisfaction_{dim}",
                (dim, "responses"),
                disclosure.protect(list(groups.items()), [1], [answered], t),
            )
        return YearFigures(
            tax_year=year,
            computed_at=self.clock.now(),
            tables=tables,
            funnel=shown,
            returns=returns,
            amounts=amounts,
            planner=planner,
            survey_average=scores.average,
            survey_responses=scores.responses,
        )

    def _feed_tables(self, tables: dict[str, Table]) -> None:
        daily = self.feed.daily()
        events = [(r.day.isoformat(), r.registry, r.count) for r in daily if r.kind == "event"]
        tables["feed_events"] = Table("feed_events", ("day", "registry", "events"), tuple(events))
        per_registry: dict[str, int] = {}
        for _, registry, n in events:
            per_registry[registry] = per_registry.get(registry, 0) + n
        dead: dict[tuple[str, str], int] = {}
        for r in daily:
            if r.kind == "deadletter":
                key = (r.reason_code, r.registry)
                dead[key] = dead.get(key, 0) + r.count
        total_events = sum(per_registry.values())
        tables["feed_deadletters"] = Table(
            "feed_deadletters",
            ("reason_code", "registry", "dead_letters", "rate"),
            tuple(
                (reason, registry, n,
                 round(n / (per_registry.get(registry, 0) or total_events or 1), 6))
                for (reason, registry), n in sorted(dead.items())
            ),
        )  # fmt: skip
        tables["feed_closures"] = Table(
            "feed_closures",
            ("registry", "tax_year", "closed_at", "received_at"),
            tuple(
                (c.registry, c.tax_year, c.closed_at,
                 c.received_at.astimezone(TASHKENT).isoformat(timespec="seconds"))
                for c in self.feed.closures()
            ),
        )  # fmt: skip


def _cumulative(value: int, threshold: int) -> int | str:
    if 0 < value < threshold:
        return disclosure.hidden(threshold)
    return disclosure.round_down(value, threshold)


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0
