"""The sender against the emulator: statuses, 429 honoured without loss, 403 falls back
to the inbox and SMS, quiet hours, crash recovery without a second send, retry policy."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
from pathlib import Path

from core.clock import TASHKENT, FixedClock
from notifier.delivery import RETRY_POLICY, Sender, SmsChannel, TelegramChannel
from notifier.ingest import Ingest
from notifier.telegram.emulator.state import Limits
from notifier.wiring import Parts, build
from storage.migrate import upgrade
from storage.notifier.deliveries import SENDING, DeliveryRecord
from storage.people import PersonUpdate
from tests.support.waiting import await_until
from tests.unit.notifier.emulated import emulator
from tests.unit.notifier.factories import notice
from tests.unit.notifier.harness import settings_for

DAY = dt.datetime(2027, 2, 10, 11, 0, tzinfo=TASHKENT)
NIGHT = dt.datetime(2027, 2, 10, 22, 0, tzinfo=TASHKENT)


def pinfl(i: int) -> str:
    return f"3{i:013d}"


def setup(
    tmp_path: Path, url: str, clock: FixedClock, people: int, **changes: object
) -> tuple[Parts, Sender, Ingest]:
    settings = dataclasses.replace(settings_for(tmp_path, url), **changes)  # type: ignore[arg-type]
    upgrade(settings.database)
    parts = build(settings, clock)
    parts.people.apply(
        [
            PersonUpdate(pinfl(i), 1, {"phone": f"+99890{i:07d}", "preferred_language": "ru"})
            for i in range(people)
        ],
        clock.now(),
    )
    bot = parts.bot()
    sender = Sender(
        deliveries=parts.deliveries,
        links=parts.links,
        people=parts.people,
        telegram=TelegramChannel(bot, parts.keyboards, parts.prompts, parts.secret, "https://p"),
        sms=SmsChannel(parts.sms_outbox, parts.prompts, parts.secret, "https://p", clock),
        limiter=parts.limiter(),
        quiet=parts.quiet,
        clock=clock,
        owner="test-sender",
        per_chat_interval_s=1.0,
    )
    ingest = Ingest(
        parts.deliveries,
        parts.links,
        parts.people,
        parts.prompts,
        parts.secret,
        "https://p",
        parts.quiet,
        clock,
    )
    return parts, sender, ingest


def link_all(parts: Parts, state: object, people: int, clock: FixedClock) -> list[int]:
    chats = []
    for i in range(people):
        user = state.add_user(f"U{i}")  # type: ignore[attr-defined]
        parts.links.link(user["id"], user["id"], pinfl(i), "deep_link", clock.now())
        chats.append(user["id"])
    return chats


def notices(people: int, kind: str = "first_notice") -> list[bytes]:
    return [
        json.dumps(
            notice(kind, pinfl=pinfl(i), notice_id=f"{kind}:r-{i}:1", return_id=f"r-{i}")
        ).encode()
        for i in range(people)
    ]


async def drain(sender: Sender, parts: Parts, until: object, timeout: float = 20) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    try:
        await await_until(until, timeout_s=timeout, interval_s=0.05, what="deliveries done")  # type: ignore[arg-type]
    finally:
        stop.set()
        await task


def statuses(parts: Parts, channel: str = "telegram") -> dict[str, int]:
    return {s: n for (c, s), n in parts.deliveries.status_counts().items() if c == channel}


async def test_every_notice_is_sent_once_with_statuses_and_inbox(tmp_path: Path) -> None:
    async with emulator(Limits(per_chat_rate=100, per_chat_burst=100)) as (state, url):
        clock = FixedClock(DAY)
        parts, sender, ingest = setup(tmp_path, url, clock, 5)
        chats = link_all(parts, state, 5, clock)
        async with sender.telegram.bot:
            assert ingest.accept(notices(5)) == 10  # portal + telegram each
            assert ingest.accept(notices(5)) == 0  # a replay creates nothing

            async def done() -> bool:
                return statuses(parts).get("sent") == 5

            await drain(sender, parts, done)
        for chat in chats:
            (message,) = state.bot_messages(chat)
            assert "Налог к уплате" in message["text"]
        assert parts.inbox.count() == 5
        events = [p for _, _, p in parts.events.fetch(1000)]
        assert [e["status"] for e in events if e["pinfl"] == pinfl(0)] == [
            "sent",
            "queued",
            "sending",
            "sent",
        ]  # portal sent; telegram queued, sending, sent


async def test_a_429_is_honoured_and_no_message_is_lost(tmp_path: Path) -> None:
    limits = Limits(global_rate=4, per_chat_rate=100, per_chat_burst=100)
    async with emulator(limits) as (state, url):
        clock = FixedClock(DAY)
        parts, sender, ingest = setup(tmp_path, url, clock, 12, telegram_rate_per_s=40.0)
        chats = link_all(parts, state, 12, clock)
        async with sender.telegram.bot:
            ingest.accept(notices(12))

            async def done() -> bool:
                clock.advance(dt.timedelta(seconds=0.2))  # retry_at is on the service clock
                return statuses(parts).get("sent") == 12

            await drain(sender, parts, done, timeout=30)
        assert state.stats["429"] > 0
        assert all(len(state.bot_messages(chat)) == 1 for chat in chats)
        retried = [p for _, _, p in parts.events.fetch(1000) if p["status"] == "temporary_failure"]
        assert retried and all(p["detail"].startswith("retry_after") for p in retried)


async def test_a_403_falls_back_to_the_inbox_and_sms(tmp_path: Path) -> None:
    async with emulator() as (state, url):
        clock = FixedClock(DAY)
        parts, sender, ingest = setup(tmp_path, url, clock, 1)
        (chat,) = link_all(parts, state, 1, clock)
        state.set_blocked(chat, True)
        async with sender.telegram.bot:
            ingest.accept(notices(1))

            async def done() -> bool:
                return statuses(parts, "sms").get("sent") == 1

            await drain(sender, parts, done)
        assert statuses(parts) == {"permanent_failure": 1}
        link = parts.links.by_chat(chat)
        assert link is not None and not link.reachable
        ((phone, text, _),) = parts.sms_outbox.for_pinfl(pinfl(0))
        assert phone == "+998900000000" and "https://p" in text
        (inbox,) = parts.inbox.list(pinfl(0))
        assert inbox.verification_code in text and inbox.kind == "first_notice"
        ingest.accept(notices(1, "reminder"))  # the next notice goes straight to SMS
        kinds = {(d.kind, d.channel) for d in parts.deliveries.for_pinfl(pinfl(0))}
        assert ("reminder", "sms") in kinds and ("reminder", "telegram") not in kinds


async def test_quiet_hours_hold_broadcasts_but_not_receipts(tmp_path: Path) -> None:
    async with emulator(Limits(per_chat_rate=100, per_chat_burst=100)) as (state, url):
        clock = FixedClock(NIGHT)
        parts, sender, ingest = setup(tmp_path, url, clock, 2)
        chats = link_all(parts, state, 2, clock)
        async with sender.telegram.bot:
            ingest.accept(notices(1))
            receipt = notice(
                "payment_receipt",
                pinfl=pinfl(1),
                notice_id="payment_receipt:r-1:1:x",
                details={"receipt_id": "pay-1", "amount_tiyin": 100},
            )
            ingest.accept([json.dumps(receipt).encode()])

            async def receipt_sent() -> bool:
                return statuses(parts).get("sent") == 1

            await drain(sender, parts, receipt_sent)
            assert state.bot_messages(chats[0]) == [] and len(state.bot_messages(chats[1])) == 1
            (held,) = [d for d in parts.deliveries.for_pinfl(pinfl(0)) if d.channel == "telegram"]
            assert held.not_before == dt.datetime(2027, 2, 11, 9, 0, tzinfo=TASHKENT)
            clock.current = dt.datetime(2027, 2, 11, 9, 0, 1, tzinfo=TASHKENT)

            async def all_sent() -> bool:
                return statuses(parts).get("sent") == 2

            await drain(sender, parts, all_sent)
        assert len(state.bot_messages(chats[0])) == 1


async def test_after_a_crash_a_send_in_flight_is_never_repeated(tmp_path: Path) -> None:
    async with emulator(Limits(per_chat_rate=100, per_chat_burst=100)) as (state, url):
        clock = FixedClock(DAY)
        parts, sender, ingest = setup(tmp_path, url, clock, 3)
        chats = link_all(parts, state, 3, clock)
        ingest.accept(notices(3))
        claimed = parts.deliveries.claim(
            "test-sender", ["telegram"], clock.now(), 3, dt.timedelta(minutes=1), dt.timedelta(0)
        )
        # The crash: one was marked sending (maybe sent), two only claimed.
        assert parts.deliveries.mark_sending("test-sender", claimed[:1], clock.now())
        async with sender.telegram.bot:
            await sender.recover()

            async def done() -> bool:
                return statuses(parts).get("sent") == 2

            await drain(sender, parts, done)
        assert statuses(parts) == {"sent": 2, "technical_failure": 1}
        ended: DeliveryRecord = next(
            d for d in parts.deliveries.all() if d.status == "technical_failure"
        )
        assert "not sent again" in ended.detail and ended.delivery_id == claimed[0].delivery_id
        assert sum(len(state.bot_messages(c)) for c in chats) == 2
        assert SENDING not in {d.status for d in parts.deliveries.all()}


def test_the_retry_policy_backs_off_then_gives_up() -> None:
    now = DAY
    assert RETRY_POLICY.retry_at(1, now) == now + dt.timedelta(seconds=10)
    assert RETRY_POLICY.retry_at(4, now) == now + dt.timedelta(seconds=1800)
    assert RETRY_POLICY.retry_at(5, now) is None
