"""A compressed tax season for ``proactax demo --from 2027-01-15 --to 2027-06-10``.

The demo process drives the time of every process through the clock file (one day per
``day_seconds``) and plays everyone around the service:

- the notifier (a stand-in until issue 6 runs in the demo): a first notice or an
  amendment on ``notices.v1`` is "delivered" a day or so later (``notifications.v1`` sent);
- the taxpayers, each with a seeded habit: prompt (views, agrees within days), late (pays
  in May), disputer (disagrees with a line), viewer (opens, never decides), silent (never
  opens; some pay after the overdue notice) - through ``lifecycle.services`` as the bot and
  the portal would;
- the registries, answering ``disputes.v1``: confirm, correct (a new revision of the
  record), or stay silent until the STC review queue takes it.

It prints the funnel at each milestone: the first notices out, 1 April, 1 June and the
last day.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import heapq
import itertools
import json
import logging
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from contracts import topics
from contracts.topics import namespaced
from core.clock import TASHKENT, write_clock_file
from core.kafka import client_options
from core.settings import Settings
from lifecycle.model import Refused
from lifecycle.services import LifecycleService

log = logging.getLogger(__name__)
HABITS = (("prompt", 50), ("late", 12), ("disputer", 10), ("viewer", 10), ("silent", 18))
# Taxpayers who owe are slower to act than those who get money back; they are few in a
# small season, so their habits are dealt in turn (every third one stays silent).
HABITS_OWING = ("prompt", "late", "silent", "disputer", "prompt", "silent", "late", "viewer")
ANSWERS = (("confirm", 40), ("correct", 40), ("silent", 20))


def _pick(options: tuple[tuple[str, int], ...], key: str) -> str:
    roll = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % sum(w for _, w in options)
    for name, weight in options:
        if roll < weight:
            return name
        roll -= weight
    return options[-1][0]


@dataclasses.dataclass(order=True)
class _Action:
    day: dt.date
    order: int
    run: Callable[[], Awaitable[None]] = dataclasses.field(compare=False)


class SeasonSimulation:
    def __init__(
        self,
        settings: Settings,
        service: LifecycleService,
        records: dict[tuple[str, str], dict[str, Any]],
        tax_year: int,
        start: dt.date,
        end: dt.date,
        day_seconds: float,
        seed: int,
        out: Callable[[str], None] = print,
    ) -> None:
        self.settings = settings
        self.service = service
        self.records = records  # (registry, record_id) -> the newest event value
        self.tax_year = tax_year
        self.start, self.end, self.today = start, end, start
        self.day_seconds = day_seconds
        self.seed = seed
        self.rng = random.Random(seed)
        self.out = out
        self.clock_path = Path(settings.clock_file)
        self._queue: list[_Action] = []
        self._order = itertools.count()
        self._producer: Any = None
        self.counts: dict[str, int] = {}
        self._first_notices: list[int] = []
        self._printed: set[str] = set()
        self._corrected: set[str] = set()
        self._habits: dict[str, str] = {}
        self._owing = 0

    # --- the clock and the day loop ---------------------------------------------------

    def set_day(self, day: dt.date) -> None:
        self.today = day
        write_clock_file(self.clock_path, dt.datetime.combine(day, dt.time(9), TASHKENT))

    async def run(self, before_first_day: Callable[[], Awaitable[None]] | None = None) -> None:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

        ns = self.settings.topic_namespace
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.bootstrap_servers,
            **client_options(self.settings),
            acks="all",
        )
        consumer = AIOKafkaConsumer(
            namespaced(topics.NOTICES, ns),
            namespaced(topics.DISPUTES, ns),
            bootstrap_servers=self.settings.bootstrap_servers,
            **client_options(self.settings),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        await self._producer.start()
        await consumer.start()
        try:
            self.set_day(self.start)
            if before_first_day is not None:
                await before_first_day()
            day = self.start
            while day <= self.end:
                self.set_day(day)
                await self._act()
                deadline = asyncio.get_running_loop().time() + self.day_seconds
                while asyncio.get_running_loop().time() < deadline:
                    batch = await consumer.getmany(timeout_ms=100)
                    for messages in batch.values():
                        for message in messages:
                            self._observe(message.topic, json.loads(message.value))
                self._milestones(day)
                day += dt.timedelta(days=1)
        finally:
            await consumer.stop()
            await self._producer.stop()

    def _later(
        self, days: int, action: Callable[[], Awaitable[None]], on: dt.date | None = None
    ) -> None:
        day = on or self.today + dt.timedelta(days=days)
        heapq.heappush(self._queue, _Action(day, next(self._order), action))

    async def _act(self) -> None:
        while self._queue and self._queue[0].day <= self.today:
            action = heapq.heappop(self._queue)
            try:
                await action.run()
            except Refused as refused:
                self._count(f"refused:{refused.code}")
            except Exception:
                log.exception("simulation: an action failed")
                self._count("failed")

    def _count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    # --- what the simulated world sees ------------------------------------------------

    def _observe(self, topic: str, value: dict[str, Any]) -> None:
        if topic.endswith(topics.DISPUTES):
            self._registry_answers(value)
            return
        kind, pinfl, version = value["kind"], value["pinfl"], value["version"]
        habit = self._habit(pinfl, value["balance_tiyin"])
        if kind in ("first_notice", "amendment"):
            self._later(self.rng.randint(0, 1), lambda: self._deliver(value))
            return
        details = value.get("details") or {}
        if kind == "dispute_update" and details.get("event") == "confirmed":
            self._later(self.rng.randint(1, 3), lambda: self._decide(pinfl, version, "agree"))
        elif kind == "overdue" and habit == "silent" and self.rng.random() < 0.6:
            self._later(self.rng.randint(1, 7), lambda: self._decide(pinfl, version, "agree"))
        elif kind == "payment_due_reminder" and details.get("payment_declined"):
            self._later(2, lambda: self._pay(pinfl))

    async def _deliver(self, notice: dict[str, Any]) -> None:
        """The stand-in notifier: the notice reached the taxpayer (telegram or portal)."""
        pinfl, version = notice["pinfl"], notice["version"]
        await self._send(
            topics.NOTIFICATIONS,
            pinfl,
            {
                "delivery_id": f"sim-{notice['notice_id'][-40:]}"[:64],
                "notice_id": notice["notice_id"],
                "kind": notice["kind"],
                "pinfl": pinfl,
                "tax_year": notice["tax_year"],
                "version": version,
                "channel": self.rng.choice(("telegram", "telegram", "telegram", "portal")),
                "status": "sent",
                "attempt": 1,
                "occurred_at": dt.datetime.combine(self.today, dt.time(10), TASHKENT).isoformat(),
                "detail": "simulated delivery",
            },
        )
        self._count("delivered")
        habit = self._habit(pinfl, notice["balance_tiyin"])
        amendment = notice["kind"] == "amendment"
        if habit == "silent":
            return
        view_in = self.rng.randint(1, 6)
        self._later(view_in, lambda: self._view(pinfl, version))
        if habit == "viewer":
            return
        if habit == "late" and not amendment:
            may = dt.date(self.today.year, 5, 1) + dt.timedelta(days=self.rng.randint(0, 24))
            self._later(0, lambda: self._decide(pinfl, version, "agree"), on=max(may, self.today))
        elif habit == "disputer" and not amendment:
            self._later(view_in + 1, lambda: self._decide(pinfl, version, "disagree"))
        else:
            self._later(
                view_in + self.rng.randint(0, 3), lambda: self._decide(pinfl, version, "agree")
            )

    def _habit(self, pinfl: str, balance_tiyin: int) -> str:
        """A taxpayer's habit, chosen (seeded) when they are first seen."""
        if pinfl not in self._habits:
            if balance_tiyin > 0:
                self._habits[pinfl] = HABITS_OWING[self._owing % len(HABITS_OWING)]
                self._owing += 1
            else:
                self._habits[pinfl] = _pick(HABITS, f"{self.seed}:{pinfl}")
        return self._habits[pinfl]

    async def _view(self, pinfl: str, version: int) -> None:
        await asyncio.to_thread(self.service.record_view, pinfl, self.tax_year, version, "portal")
        self._count("viewed")

    async def _pay(self, pinfl: str) -> None:
        await asyncio.to_thread(self.service.request_payment, pinfl, self.tax_year, "portal")
        self._count("pay again")

    async def _decide(self, pinfl: str, version: int, choice: str) -> None:
        lines: list[dict[str, str]] = []
        if choice == "disagree":
            case = await asyncio.to_thread(self.service.repository.case, pinfl, self.tax_year)
            if case is None:
                return
            line = next((ln for ln in case.version.lines if _disputable(ln.code)), None)
            if line is None:
                choice = "agree"
            else:
                reason = self.rng.choice(("wrong_amount", "not_mine", "already_paid", "other"))
                lines = [
                    {"code": line.code, "subject": line.subject, "reason_code": reason,
                     "comment": "Simulated: this figure is not right."}
                ]  # fmt: skip
        channel = self.rng.choice(("telegram", "portal"))
        receipt = await self.service.submit_decision(
            pinfl,
            self.tax_year,
            version,
            choice,  # type: ignore[arg-type]
            channel,  # type: ignore[arg-type]
            lines=lines,
        )
        self._count(f"{choice}:{receipt.status}")

    def _registry_answers(self, dispute: dict[str, Any]) -> None:
        """One answer per disagreement (the disputes opened together): confirm every
        record, correct one of them (a new version supersedes the rest), or stay silent."""
        complaint = f"{self.seed}:{dispute['pinfl']}:{dispute['opened_at']}"
        answer = _pick(ANSWERS, complaint)
        delay = 2 + int(hashlib.sha256(complaint.encode()).hexdigest()[:4], 16) % 4
        if answer == "confirm":
            self._later(delay, lambda: self._confirm(dispute))
        elif answer == "correct" and complaint not in self._corrected:
            self._corrected.add(complaint)
            self._later(delay + 1, lambda: self._correct(dispute))

    async def _confirm(self, dispute: dict[str, Any]) -> None:
        await self._send(
            topics.DISPUTE_RESPONSES,
            dispute["registry"],
            {
                "dispute_id": dispute["dispute_id"],
                "resolution": "confirmed",
                "comment": "Simulated registry: the record stands.",
            },
        )
        self._count("registry confirmed")

    async def _correct(self, dispute: dict[str, Any]) -> None:
        key = (dispute["registry"], dispute["record_id"])
        event = self.records.get(key)
        if event is None or event["revision"] != dispute["revision"]:
            return  # corrected already (another line of the same record)
        data = {
            k: (int(v * 0.8) if k.endswith("_tiyin") and isinstance(v, int) else v)
            for k, v in (event.get("data") or {}).items()
        }
        revision = event["revision"] + 1
        fresh = dict(
            event,
            event_id=f"{event['event_id'][:50]}-r{revision}",
            revision=revision,
            occurred_at=dt.datetime.combine(self.today, dt.time(11), TASHKENT).isoformat(),
            data=data,
        )
        self.records[key] = fresh
        await self._send(topics.registry_topic(dispute["registry"]), event["pinfl"], fresh)
        self._count("registry corrected")

    async def _send(self, topic: str, key: str, value: dict[str, Any]) -> None:
        await self._producer.send_and_wait(
            namespaced(topic, self.settings.topic_namespace),
            key=key.encode(),
            value=json.dumps(value, ensure_ascii=False).encode(),
        )

    # --- the funnel ---------------------------------------------------------------------

    def _milestones(self, day: dt.date) -> None:
        funnel = self.service.funnel(self.tax_year)
        first = funnel["notices"].get("first_notice", 0)
        self._first_notices.append(first)
        quiet = (
            len(self._first_notices) >= 3
            and first > 0
            and (self._first_notices[-1] == self._first_notices[-3])
        )
        if quiet and "first" not in self._printed:
            self._printed.add("first")
            self.print_funnel(day, "the first notices are out", funnel)
        for month, name in (
            (4, "1 April: the declaration deadline"),
            (6, "1 June: the payment deadline"),
        ):
            if (day.month, day.day) == (month, 1):
                self.print_funnel(day, name, funnel)
        if day == self.end:
            self.print_funnel(day, "the last day", funnel)
        elif day.weekday() == 0 and (day - self.start).days >= 7:
            self._progress(day, funnel)

    def _progress(self, day: dt.date, funnel: dict[str, Any]) -> None:
        s = funnel["by_state"]
        self.out(
            f"  {day.isoformat()}  returns {funnel['returns']}  notified "
            f"{funnel['reached'].get('notified', 0)}  agreed {funnel['reached'].get('agreed', 0)}  "
            f"paid {s.get('paid', 0)}  refunded {s.get('refunded', 0)}  disputed "
            f"{s.get('disputed', 0)}  review {s.get('review', 0)}  overdue {s.get('overdue', 0)}"
        )

    def print_funnel(self, day: dt.date, title: str, funnel: dict[str, Any]) -> None:
        self.out(format_funnel(day, title, funnel))


STATE_ORDER = (
    "computed", "nothing_due", "notified", "viewed", "agreed", "payment_pending", "paid",
    "refund_pending", "refunded", "disagreed", "disputed", "review", "overdue",
)  # fmt: skip
NOTICE_ORDER = (
    "first_notice", "reminder", "payment_due_reminder", "amendment", "payment_receipt",
    "refund_notice", "dispute_update", "overdue",
)  # fmt: skip


def soum(tiyin: int) -> str:
    return f"{tiyin / 100:,.2f}".replace(",", " ") + " soum"


def format_funnel(day: dt.date, title: str, funnel: dict[str, Any]) -> str:
    states, reached, notices = funnel["by_state"], funnel["reached"], funnel["notices"]
    due = funnel["returns"] - states.get("nothing_due", 0)
    steps = ("notified", "viewed", "agreed", "disputed", "paid", "refunded", "overdue", "review")
    lines = [
        f"\n== {day.isoformat()} · {title} ==",
        f"  returns {funnel['returns']}: {due} with something to do, "
        f"{states.get('nothing_due', 0)} nothing due (no notice)",
        "  ever reached: " + " · ".join(f"{s} {reached.get(s, 0)}" for s in steps),
        "  now:          "
        + " · ".join(f"{s.replace('_', ' ')} {states[s]}" for s in STATE_ORDER if states.get(s)),
        "  notices:      "
        + " · ".join(f"{k.replace('_', ' ')} {notices[k]}" for k in NOTICE_ORDER if notices.get(k)),
        "  disputes:     "
        + (" · ".join(f"{k} {v}" for k, v in sorted(funnel["disputes"].items())) or "none"),
        f"  money:        assessed {soum(funnel['assessed_tiyin'])} · collected "
        f"{soum(funnel['collected_tiyin'])} · refunded {soum(funnel['refunded_tiyin'])} · "
        f"late-payment interest {soum(funnel['interest_collected_tiyin'])}",
    ]
    return "\n".join(lines)


def _disputable(code: str) -> bool:
    from contracts.returns_v1 import disputable

    return disputable(code)


def newest_records(events: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """(registry, record_id) -> the highest revision's event value (voids removed)."""
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for event in events:
        value = event.value
        if event.fault is not None or value is None or value.get("registry") == "population":
            continue
        key = (value["registry"], value["record_id"])
        held = newest.get(key)
        if held is None or value["revision"] > held["revision"]:
            newest[key] = value
    return {k: v for k, v in newest.items() if v.get("action") == "upsert"}


def run_season(
    settings: Settings,
    *,
    start: dt.date,
    end: dt.date,
    people: int,
    tax_year: int,
    seed: int,
    day_seconds: float,
    ready_timeout_s: float = 300,
    out: Callable[[str], None] = print,
) -> int:
    """The whole compressed season: broker, worker, the season's events, the day loop."""
    import time

    from devtools import broker
    from devtools.processes import ServiceProcess
    from devtools.registries_mock.publisher import close_year, publish
    from devtools.registries_mock.season import generate_season
    from lifecycle.publisher import KafkaDecisionPublisher
    from storage.database import make_engine, make_session_factory
    from storage.lifecycle.repository import LifecycleRepository
    from storage.migrate import upgrade

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
    namespace = f"season{stamp}"
    home = settings.run_dir / "season" / namespace
    timer_s = max(0.1, min(settings.lifecycle_timer_interval_s, day_seconds / 4))
    reconcile_s = max(0.1, min(settings.payment_reconcile_interval_s, day_seconds / 2))
    settings = dataclasses.replace(
        settings,
        topic_namespace=namespace,
        app_id=f"proactax-{namespace}",
        database_url=f"sqlite:///{home / 'proactax.db'}",  # a fresh database per season
        clock_file=str(home / "clock"),
        lifecycle_timer_interval_s=timer_s,
        payment_reconcile_interval_s=reconcile_s,
        payment_stub_delay_s=min(settings.payment_stub_delay_s, day_seconds),
    )
    out(f"Compressed season {start} -> {end}: one day every {day_seconds:g}s (clock file "
        f"{settings.clock_file}); topics {namespace}.*; database {settings.database}")  # fmt: skip
    handle = broker.ensure_broker(settings)
    broker.create_worker_topics(settings)
    upgrade(settings.database)
    write_clock_file(Path(settings.clock_file), dt.datetime.combine(start, dt.time(9), TASHKENT))
    log_path = settings.run_dir / "logs" / f"{namespace}-worker.log"
    worker = ServiceProcess.worker(settings, log_path).start()
    out(f"Stream worker started (log: {log_path})")
    season = generate_season(people, tax_year, seed, id_prefix=namespace)
    store = LifecycleRepository(make_session_factory(make_engine(settings.database)))
    service = LifecycleService.from_settings(settings, store)
    simulation = SeasonSimulation(
        settings, service, newest_records(season.events), tax_year, start, end, day_seconds, seed,
        out,
    )  # fmt: skip

    async def first_day() -> None:
        out(f"{start}: the registries publish {len(season.events)} events for "
            f"{len(season.people)} people and close tax year {tax_year}")  # fmt: skip
        await publish(season.events, settings, namespace)
        await close_year(tax_year, settings, namespace)
        wanted = len(season.taxpayers)
        deadline = time.monotonic() + ready_timeout_s
        while (done := (await asyncio.to_thread(service.funnel, tax_year))["returns"]) < wanted:
            if not worker.alive():
                raise RuntimeError(f"the worker stopped:\n{worker.log_tail()}")
            if time.monotonic() > deadline:
                out(f"  only {done}/{wanted} returns after {ready_timeout_s:.0f}s; going on")
                break
            await asyncio.sleep(0.5)
        out(f"{start}: {wanted} returns computed; the clock starts running")

    async def main() -> None:
        async with KafkaDecisionPublisher(settings) as publisher:
            service.publisher = publisher
            await simulation.run(before_first_day=first_day)

    try:
        asyncio.run(main())
        actions = " · ".join(f"{k} {v}" for k, v in sorted(simulation.counts.items()))
        out(f"\nSimulated actions: {actions}")
        out(f"Database of this season: {settings.database}")
        return 0
    finally:
        out("Stopping the worker ...")
        worker.stop()
        if handle.launched:
            out("Stopping the broker ...")
            broker.stop(settings)
