"""Notifier send rate against the Bot API emulator, and the planner's projection.

Runs the real sender (outbox claims on SQLite, the fleet limiter's database row, PTB's
``Bot.send_message`` over HTTP, outcomes written back) against ``proactax
telegram-emulator`` in its own process, once at Telegram's default 30 messages/s and once
with paid broadcast at 1,000/s, and prints the sustained rate (between 5 % and 95 % of the
wave), the share of the limit and the 429s. Then the send planner's projection for 10
million first notices at both rates, with quiet hours 21:00-09:00.

    python bench/notifier.py [--seconds 20] [--paid 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.machine import describe
from core.clock import TASHKENT, FixedClock
from core.settings import Settings
from devtools.processes import ServiceProcess
from notifier.delivery import Sender, SmsChannel, TelegramChannel
from notifier.ingest import Ingest
from notifier.planner import Wave, project
from notifier.schedule import QuietHours
from notifier.wiring import Parts, build
from storage.migrate import upgrade
from storage.people import PersonUpdate

DAY = dt.datetime(2027, 2, 10, 11, 0, tzinfo=TASHKENT)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def notice(i: int) -> bytes:
    return json.dumps(
        {
            "notice_id": f"first_notice:bench-{i}:1",
            "kind": "first_notice",
            "pinfl": f"5{i:013d}",
            "tax_year": 2026,
            "return_id": f"bench-{i}",
            "version": 1,
            "created_at": "2027-02-02T09:00:00+05:00",
            "deadline": "2027-04-01",
            "balance_tiyin": 540_000_000,
            "details": {"payment_deadline": "2027-06-01"},
        }
    ).encode()


def prepare(settings: Settings, client: httpx.Client, count: int) -> Parts:
    """``count`` taxpayers with a linked emulator chat each, and one queued notice each."""
    upgrade(settings.database)
    parts = build(settings, FixedClock(DAY))
    parts.people.apply(
        [PersonUpdate(f"5{i:013d}", 1, {"preferred_language": "uz-Latn"}) for i in range(count)],
        DAY,
    )
    for i in range(count):
        user = client.post("/control/users", json={"first_name": f"B{i}"}).json()
        parts.links.link(user["id"], user["id"], f"5{i:013d}", "deep_link", DAY)
    ingest = Ingest(
        parts.deliveries,
        parts.links,
        parts.people,
        parts.prompts,
        parts.secret,
        "https://my.soliq.uz",
        parts.quiet,
        parts.clock,
    )
    for start in range(0, count, 1000):
        ingest.accept([notice(i) for i in range(start, min(count, start + 1000))])
    return parts


async def wave(parts: Parts, client: httpx.Client, count: int) -> dict[str, float]:
    settings = parts.settings
    bot = parts.bot()
    sender = Sender(
        deliveries=parts.deliveries,
        links=parts.links,
        people=parts.people,
        telegram=TelegramChannel(
            bot,
            parts.keyboards,
            parts.prompts,
            parts.secret,
            "https://my.soliq.uz",
            settings.telegram_paid_broadcast,
        ),
        sms=SmsChannel(parts.sms_outbox, parts.prompts, parts.secret, "https://p", parts.clock),
        limiter=parts.limiter(),
        quiet=parts.quiet,
        clock=parts.clock,
        owner="bench",
        per_chat_interval_s=1.0,
    )
    base = client.get("/control/stats").json()["messages_accepted"]
    marks: dict[float, float] = {}
    stop = asyncio.Event()
    async with bot:
        started = time.monotonic()
        task = asyncio.create_task(sender.run(stop))
        while True:
            await asyncio.sleep(0.25)
            accepted = client.get("/control/stats").json()["messages_accepted"] - base
            now = time.monotonic() - started
            for share in (0.05, 0.95, 1.0):
                if accepted >= share * count and share not in marks:
                    marks[share] = now
            if accepted >= count or now > count / sender.limiter.rate * 4 + 30:
                break
        stop.set()
        await task
    stats = client.get("/control/stats").json()
    sustained = 0.9 * count / (marks[0.95] - marks[0.05]) if 0.95 in marks else 0.0
    return {
        "sent": float(accepted),
        "elapsed": marks.get(1.0, now),
        "sustained": sustained,
        "429": float(stats["stats"].get("429", 0)),
    }


def run_wave(settings: Settings, label: str, count: int, limit: float) -> None:
    client = httpx.Client(base_url=settings.telegram_emulator_url, timeout=30)
    client.post("/control/reset")
    parts = prepare(settings, client, count)
    result = asyncio.run(wave(parts, client, count))
    client.close()
    print(
        f"{label}: {result['sent']:.0f} messages in {result['elapsed']:.1f} s; sustained "
        f"{result['sustained']:.1f} msg/s = {100 * result['sustained'] / limit:.1f} % of "
        f"{limit:g}/s; 429 answers: {result['429']:.0f}"
    )


def projection(rate: float) -> None:
    quiet = QuietHours.parse("21:00-09:00")
    now = dt.datetime(2027, 2, 2, 9, 0, tzinfo=TASHKENT)
    waves = [Wave("telegram", "first_notice", dt.date(2027, 4, 1), 1, 10_000_000)]
    started = time.perf_counter()
    result = project(waves, rate, quiet, now)
    took = (time.perf_counter() - started) * 1000
    (w,) = result.waves
    days = (w.completes_at - now).total_seconds() / 86400
    slack = (w.slack_s or 0) / 86400
    print(
        f"planner, 10,000,000 first notices from {now:%Y-%m-%d %H:%M} at {rate:g} msg/s "
        f"(12 sending hours a day): done {w.completes_at:%Y-%m-%d %H:%M} Tashkent "
        f"({days:.1f} days), {'on time' if w.on_time else 'LATE'} for 1 April "
        f"({slack:+.1f} days of slack); projection computed in {took:.2f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20, help="length of the 30/s wave")
    parser.add_argument("--paid", type=int, default=10_000, help="messages in the 1,000/s wave")
    args = parser.parse_args()
    print(describe())
    with tempfile.TemporaryDirectory() as tmp:
        base = Settings.from_env({"PROACTAX_RUN_DIR": tmp})
        settings = dataclasses.replace(
            base,
            telegram_emulator_port=free_port(),
            notifier_secret="bench",
            quiet_hours="00:00-00:00",
        )
        emulator = ServiceProcess.telegram_emulator(
            settings, Path(tmp) / "emulator.log", "--global-rate", "30", "--paid-rate", "1000"
        ).start()
        try:
            client = httpx.Client(base_url=settings.telegram_emulator_url)
            deadline = time.monotonic() + 30
            while True:
                try:
                    client.get("/control/stats")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            client.close()
            count = int(30 * args.seconds)
            slow = dataclasses.replace(
                settings, database_url=f"sqlite:///{tmp}/bench30.db", telegram_rate_per_s=30.0
            )
            run_wave(slow, "limit 30/s (default)", count, 30.0)
            fast = dataclasses.replace(
                settings,
                database_url=f"sqlite:///{tmp}/bench1000.db",
                telegram_paid_broadcast=True,
                telegram_paid_rate_per_s=1000.0,
            )
            run_wave(fast, "limit 1,000/s (paid broadcast)", args.paid, 1000.0)
        finally:
            emulator.stop()
    projection(30.0)
    projection(1000.0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
