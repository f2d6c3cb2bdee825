"""The notifier process over the real broker and the emulator process: a wave of
notices.v1 with Telegram's limits (429 honoured), a blocked chat (403 ► inbox and SMS),
a kill -9 mid-wave (no notice twice), statuses on notifications.v1; and quiet hours."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts import topics
from core.kafka import client_options
from core.settings import Settings
from devtools.processes import ServiceProcess
from notifier.wiring import Parts, build
from storage.migrate import upgrade
from storage.people import PersonUpdate
from tests.support.telegram import EmulatorProcess, free_port
from tests.support.waiting import wait_until
from tests.unit.notifier.factories import notice

pytestmark = pytest.mark.integration

DAY = "2027-02-10T11:00:00+05:00"
PEOPLE = 30


def pinfl(i: int) -> str:
    return f"4{i:013d}"


@pytest.fixture
def settings(pipeline_settings: Settings) -> Settings:
    return dataclasses.replace(
        pipeline_settings,
        telegram_emulator_port=free_port(),
        clock_start=DAY,
        notifier_instance="it-notifier",
        notifier_secret="integration-secret",
        telegram_rate_per_s=20.0,
    )


def publish(settings: Settings, topic: str, values: list[dict[str, Any]]) -> None:
    async def send() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap_servers, **client_options(settings), acks="all"
        )
        await producer.start()
        try:
            for value in values:
                await producer.send(
                    topics.namespaced(topic, settings.topic_namespace),
                    json.dumps(value).encode(),
                    key=value["pinfl"].encode(),
                )
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(send())


def read_all(settings: Settings, topic: str, timeout_s: float = 1.5) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        consumer = AIOKafkaConsumer(
            topics.namespaced(topic, settings.topic_namespace),
            bootstrap_servers=settings.bootstrap_servers,
            **client_options(settings),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        await consumer.start()
        values: list[dict[str, Any]] = []
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=int(timeout_s * 1000))
                if not batch:
                    return values
                values += [json.loads(r.value) for rs in batch.values() for r in rs]
        finally:
            await consumer.stop()

    return asyncio.run(read())


def population(settings: Settings, people: int) -> Parts:
    upgrade(settings.database)
    parts = build(settings)
    parts.people.apply(
        [
            PersonUpdate(pinfl(i), 1, {"phone": f"+99891{i:07d}", "preferred_language": "en"})
            for i in range(people)
        ],
        parts.clock.now(),
    )
    return parts


def telegram_statuses(parts: Parts) -> Counter[str]:
    return Counter(d.status for d in parts.deliveries.all() if d.channel == "telegram")


def test_a_wave_honours_429_falls_back_on_403_and_survives_kill_9(
    settings: Settings, tmp_path: Path
) -> None:
    emulator = EmulatorProcess(
        settings, tmp_path / "emulator.log", "--global-rate", "8", "--per-chat-rate", "1"
    ).start()
    notifier = ServiceProcess.notifier(settings, tmp_path / "notifier.log")
    try:
        parts = population(settings, PEOPLE)
        chats = []
        for i in range(PEOPLE):
            chat = emulator.add_user(f"T{i}")
            parts.links.link(chat, chat, pinfl(i), "deep_link", parts.clock.now())
            chats.append(chat)
        emulator.block(chats[0])
        publish(
            settings,
            topics.NOTICES,
            [
                notice(pinfl=pinfl(i), notice_id=f"first_notice:r-{i}:1", return_id=f"r-{i}")
                for i in range(PEOPLE)
            ],
        )
        notifier.start()
        wait_until(
            lambda: telegram_statuses(parts)["sent"] >= 8,
            timeout_s=60,
            what="the wave under way",
            describe=lambda: notifier.log_tail(),
        )
        notifier.kill()  # mid-wave: some sent, some sending, most queued
        notifier.start()  # and the notices.v1 offsets were maybe not committed either

        def finished() -> bool:
            counts = telegram_statuses(parts)
            return counts["queued"] + counts["sending"] + counts["temporary_failure"] == 0 and (
                sum(counts.values()) == PEOPLE
            )

        wait_until(
            finished,
            timeout_s=90,
            what="every delivery finished",
            describe=lambda: f"{telegram_statuses(parts)}\n{notifier.log_tail()}",
        )
        assert notifier.stop() == 0
        counts = telegram_statuses(parts)
        received = {chat: len(emulator.bot_messages(chat)) for chat in chats}
        assert max(received.values()) == 1, "a notice reached a chat twice"
        # A send cut off by the kill has an unknown outcome: it may have arrived (and is not
        # sent again) or not; every "sent" one did.
        assert (
            counts["sent"] <= sum(received.values()) <= counts["sent"] + counts["technical_failure"]
        )
        assert counts["permanent_failure"] == 1  # the blocked chat
        assert counts["sent"] + counts["technical_failure"] == PEOPLE - 1
        assert counts["technical_failure"] <= 5  # only sends cut off by the kill
        assert emulator.stats()["stats"].get("429", 0) > 0  # 20/s asked, 8/s allowed
        link = parts.links.by_chat(chats[0])
        assert link is not None and not link.reachable
        assert len(parts.sms_outbox.for_pinfl(pinfl(0))) == 1  # the SMS fallback
        assert parts.inbox.count() == PEOPLE
        events = read_all(settings, topics.NOTIFICATIONS)
        sent_events = {e["delivery_id"] for e in events if e["status"] == "sent"}
        sent_rows = {d.delivery_id for d in parts.deliveries.all() if d.status == "sent"}
        assert sent_rows <= sent_events  # every sent delivery told the dashboard
        assert {"queued", "sending", "sent", "permanent_failure"} <= {e["status"] for e in events}
    finally:
        notifier.stop()
        emulator.stop()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_quiet_hours_hold_broadcasts_until_morning(settings: Settings, tmp_path: Path) -> None:
    night = dataclasses.replace(settings, clock_start="2027-02-10T22:00:00+05:00")
    emulator = EmulatorProcess(night, tmp_path / "emulator.log").start()
    notifier = ServiceProcess.notifier(night, tmp_path / "notifier.log")
    try:
        parts = population(night, 3)
        chats = []
        for i in range(3):
            chat = emulator.add_user(f"Q{i}")
            parts.links.link(chat, chat, pinfl(i), "deep_link", parts.clock.now())
            chats.append(chat)
        receipt = notice(
            "payment_receipt",
            pinfl=pinfl(2),
            notice_id="payment_receipt:r-2:1:abc",
            return_id="r-2",
            balance_tiyin=0,
            deadline=None,
            details={"receipt_id": "pay-abc", "amount_tiyin": 720_000_000},
        )
        broadcasts = [
            notice(pinfl=pinfl(i), notice_id=f"first_notice:r-{i}:1", return_id=f"r-{i}")
            for i in range(2)
        ]
        publish(night, topics.NOTICES, [*broadcasts, receipt])
        notifier.start()
        wait_until(
            lambda: emulator.bot_messages(chats[2]),
            timeout_s=30,
            what="the receipt (an answer, not a broadcast) sent at night",
            describe=notifier.log_tail,
        )
        assert "Payment received" in emulator.bot_messages(chats[2])[0]["text"]
        held = [
            d
            for d in parts.deliveries.all()
            if d.kind == "first_notice" and d.channel == "telegram"
        ]
        morning = dt.datetime.fromisoformat("2027-02-11T09:00:00+05:00")
        assert {d.status for d in held} == {"queued"} and {d.not_before for d in held} == {morning}
        # the receipt's satisfaction survey (issue 15 item 3) is a broadcast: held too
        (survey,) = [d for d in parts.deliveries.all() if d.kind == "survey"]
        assert survey.pinfl == pinfl(2) and survey.channel == "telegram"
        assert survey.status == "queued" and survey.not_before == morning
        assert notifier.stop() == 0
        assert not emulator.bot_messages(chats[0]) and not emulator.bot_messages(chats[1])
        assert len(emulator.bot_messages(chats[2])) == 1

        dawn = dataclasses.replace(night, clock_start="2027-02-11T08:59:57+05:00")
        notifier = ServiceProcess.notifier(dawn, tmp_path / "notifier-dawn.log").start()
        wait_until(
            lambda: (
                all(emulator.bot_messages(c) for c in chats[:2])
                and len(emulator.bot_messages(chats[2])) == 2
            ),
            timeout_s=30,
            what="the first notices and the survey question at 09:00",
            describe=notifier.log_tail,
        )
        for chat in chats[:2]:
            assert len(emulator.bot_messages(chat)) == 1
        question = emulator.bot_messages(chats[2])[1]
        assert "How satisfied" in question["text"]
        assert [b["text"] for row in question["reply_markup"]["inline_keyboard"] for b in row] == [
            "1", "2", "3", "4", "5"
        ]  # fmt: skip
        wait_until(
            lambda: not parts.events.fetch(1),
            timeout_s=30,
            what="every status relayed",
            describe=notifier.log_tail,
        )
        relayed = read_all(night, topics.NOTIFICATIONS)
        assert relayed and all(v["kind"] != "survey" for v in relayed)
        assert {v["kind"] for v in relayed} == {"first_notice", "payment_receipt"}
    finally:
        notifier.stop()
        emulator.stop()
