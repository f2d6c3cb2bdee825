"""Payment provider timeouts (the money moved, the answer was lost), delays and declines,
with the worker killed -9 at random (seeded) points while payments are pending: nobody
is charged twice, every pending payment settles after the restart, and a declined one
leaves the return payable again.

Builds on tests/integration/test_lifecycle.py (one taxpayer per gateway mode, one kill):
here many taxpayers, modes drawn at random, several kills. The gateway is the product's
stub, whose ledger is the record of money moved (``payment_stub_ledger``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import random
import time
from pathlib import Path

import pytest

from agents.returns_builder import return_id
from contracts import topics
from core.clock import TASHKENT, write_clock_file
from core.settings import Settings
from devtools.registries_mock.pinfl import make_pinfl
from devtools.registries_mock.publisher import close_year, publish
from lifecycle import ids
from lifecycle.publisher import KafkaDecisionPublisher
from lifecycle.services import LifecycleService
from storage.database import make_engine, make_session_factory
from storage.lifecycle.repository import LifecycleRepository
from storage.lifecycle.stub_gateway import StubLedgerRepository
from storage.migrate import upgrade
from tests.integration.lifecycle_harness import RENT, TAX, YEAR, _read_all, _send, event
from tests.integration.test_lifecycle import TENANT
from tests.support.reliability import Figures, record, seed_for
from tests.support.waiting import wait_until
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration

MODES = ("success", "timeout", "delay", "decline")


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    people: int
    kills: int
    seed: int


VARIANTS = [
    pytest.param(Variant("fast", people=12, kills=2, seed=31), id="fast"),
    pytest.param(Variant("soak", people=60, kills=5, seed=32), id="soak", marks=pytest.mark.soak),
]


def lease(pinfl: str, i: int):  # type: ignore[no-untyped-def]
    return event(
        "rental",
        pinfl,
        f"REN-P{i}",
        1,
        {
            "contract_number": f"N-2026-P{i}",
            "tenant_kind": "individual",
            "tenant_id": TENANT,
            "cadastral_number": f"10:08:02:02:02:{i:04d}",
            "start_date": "2026-01-01",
            "end_date": "2026-12-31",
            "monthly_rent_tiyin": RENT,
            "pit_withheld_tiyin": 0,
        },
    )


def notified(settings: Settings, pinfl: str) -> None:
    """The notifier's word that the first notice reached the taxpayer."""
    notice_id = ids.notice_id("first_notice", return_id(pinfl, YEAR), 1)
    value = {
        "delivery_id": f"d-{pinfl}",
        "notice_id": notice_id,
        "kind": "first_notice",
        "pinfl": pinfl,
        "tax_year": YEAR,
        "version": 1,
        "channel": "telegram",
        "status": "sent",
        "attempt": 1,
        "occurred_at": "2027-02-02T09:00:03+05:00",
        "detail": "",
    }
    asyncio.run(
        _send(settings, topics.namespaced(topics.NOTIFICATIONS, settings.topic_namespace), pinfl,
              value)
    )  # fmt: skip


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("variant", VARIANTS)
def test_no_double_charge_and_every_pending_payment_settles_across_kills(
    pipeline_settings: Settings, tmp_path: Path, variant: Variant
) -> None:
    seed = seed_for(variant.seed)
    rng = random.Random(seed)
    print(f"payment faults: seed {seed} (replay with PROACTAX_RELIABILITY_SEED={seed})")
    people = [
        make_pinfl(dt.date(1960 + i % 40, 1 + i % 12, 1 + i % 28), "M", 300 + i, 20 + i)
        for i in range(variant.people)
    ]
    modes = {p: MODES[i % len(MODES)] for i, p in enumerate(people)}  # every mode, shuffled
    shuffled = list(modes.values())
    rng.shuffle(shuffled)
    modes = dict(zip(people, shuffled, strict=True))
    clock_path = tmp_path / "clock"
    write_clock_file(clock_path, dt.datetime(2027, 2, 2, 9, tzinfo=TASHKENT))
    settings = dataclasses.replace(
        pipeline_settings,
        clock_file=str(clock_path),
        lifecycle_timer_interval_s=0.5,
        payment_reconcile_interval_s=0.5,
        payment_stub_delay_s=6.0,
        payment_stub_overrides=",".join(f"{p}={m}" for p, m in modes.items()),
    )
    upgrade(settings.database)
    sessions = make_session_factory(make_engine(settings.database))
    cases = LifecycleRepository(sessions)
    ledger = StubLedgerRepository(sessions)
    service = LifecycleService.from_settings(settings, LifecycleRepository(sessions))
    figures = record(Figures("payment faults + kill -9", variant.name, seed, events=len(people)))
    t0 = time.monotonic()
    workers = [WorkerProcess(settings, tmp_path / "worker-1.log").start()]

    def state(pinfl: str) -> str | None:
        case = cases.case(pinfl, YEAR)
        return None if case is None else str(case.state)

    def wait(probe, what: str, timeout_s: float = 120):  # type: ignore[no-untyped-def]
        return wait_until(
            lambda: workers[-1].assert_alive() or probe(),
            timeout_s=timeout_s,
            what=what,
            describe=lambda: f"{ {p[-4:]: state(p) for p in people} }\n{workers[-1].log_tail()}",
        )

    try:
        asyncio.run(
            publish(
                [lease(p, i) for i, p in enumerate(people)],
                settings,
                settings.topic_namespace,
            )
        )
        asyncio.run(close_year(YEAR, settings, settings.topic_namespace))
        wait(lambda: all(state(p) == "computed" for p in people), "every return computed")
        for pinfl in people:
            notified(settings, pinfl)
        wait(lambda: all(state(p) == "notified" for p in people), "every taxpayer notified")

        async def agree_all() -> None:
            async with KafkaDecisionPublisher(settings) as publisher:
                service.publisher = publisher
                for pinfl in people:
                    await service.submit_decision(pinfl, YEAR, 1, "agree", "telegram")

        asyncio.run(agree_all())
        for k in range(variant.kills):
            pending = rng.randint(1, max(1, variant.people // 4))
            wait(
                lambda n=pending: (
                    sum(state(p) == "payment_pending" for p in people) >= n
                    or all(state(p) in ("paid", "agreed") for p in people)
                ),
                f"{pending} payments pending before kill {k + 1}",
            )
            print(f"kill {k + 1}: {sum(state(p) == 'payment_pending' for p in people)} pending")
            workers[-1].kill()
            figures.faults += 1
            workers.append(WorkerProcess(settings, tmp_path / f"worker-{k + 2}.log").start())
        back = time.monotonic()
        expected = {p: "agreed" if m == "decline" else "paid" for p, m in modes.items()}
        wait(
            lambda: {p: state(p) for p in people} == expected,
            "every payment settled (declined ones payable again)",
        )
        figures.recover_s.append(time.monotonic() - back)

        charged = {p: [e for e in ledger.entries(p) if e.status == "succeeded"] for p in people}
        figures.duplicates = sum(max(0, len(c) - 1) for c in charged.values())
        figures.lost = sum(1 for p in people if expected[p] == "paid" and not charged[p])
        for pinfl in people:
            money = [(e.operation, e.amount_tiyin) for e in charged[pinfl]]
            receipts = [r.amount_tiyin for r in service.receipts(pinfl)]
            if modes[pinfl] == "decline":
                assert (money, receipts) == ([], []), pinfl
            else:
                assert (money, receipts) == ([("charge", TAX)], [TAX]), (pinfl, modes[pinfl])
            assert not [e for e in ledger.entries(pinfl) if e.status == "pending"], pinfl
        on_topic = asyncio.run(_read_all(settings, topics.PAYMENTS))
        succeeded = {v["payment_id"] for _, v in on_topic if v["status"] == "succeeded"}
        assert len(succeeded) == sum(m != "decline" for m in modes.values())
    finally:
        figures.seconds = time.monotonic() - t0
        assert workers[-1].stop() == 0, workers[-1].log_tail()
