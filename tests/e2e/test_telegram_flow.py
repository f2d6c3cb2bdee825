"""The Telegram flow end to end, every part real: registry events ► the broker ► the
worker (returns, lifecycle) ► notices.v1 ► the notifier ► the Bot API emulator; the
taxpayer's side goes emulator ► webhook receiver (secret header) ► telegram.updates.v1 ►
bot worker (PTB, ``updater(None)``) ► lifecycle services ► decisions.v1 ► the worker.

Taxpayer A links by a portal deep link, gets the return, opens Details, agrees, and gets
the payment confirmation. Taxpayer B links by sharing their contact, disagrees with one
line giving a reason, and a dispute goes to the registry on disputes.v1. The bot speaks
each taxpayer's registered language, so the test reads its words from the templates.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from contracts import topics
from contracts.returns_v1 import disputable
from core.kafka import client_options
from core.settings import Settings
from devtools.processes import ServiceProcess
from devtools.registries_mock.publisher import close_year, publish
from devtools.registries_mock.season import generate_season
from notifier.api import NotifierApi
from notifier.prompts import prompts, resolve
from storage.database import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.people import PeopleRepository
from storage.portal.surveys import SurveyRepository
from storage.returns_repository import ReturnsRepository
from tests.support.telegram import EmulatorProcess, free_port
from tests.support.waiting import wait_until
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration

YEAR = 2026
WAIT_S = 90


@pytest.fixture
def settings(pipeline_settings: Settings) -> Settings:
    hook_port = free_port()
    return dataclasses.replace(
        pipeline_settings,
        clock_start="2027-02-10T11:00:00+05:00",
        telegram_emulator_port=free_port(),
        telegram_webhook_port=hook_port,
        telegram_webhook_url=f"http://127.0.0.1:{hook_port}/telegram/webhook",
        telegram_webhook_secret="e2e-webhook-secret",
        notifier_secret="e2e-secret",
        notifier_instance="e2e-notifier",
        telegram_per_chat_interval_s=0.5,
    )


def read_topic(settings: Settings, topic: str) -> list[dict[str, Any]]:
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
        seen: list[dict[str, Any]] = []
        try:
            idle = 0  # read until the topic has been quiet for three polls in a row
            while idle < 3:
                batch = await consumer.getmany(timeout_ms=500)
                fresh = [json.loads(r.value) for rs in batch.values() for r in rs]
                idle = 0 if fresh else idle + 1
                seen += fresh
            return seen
        finally:
            await consumer.stop()

    return asyncio.run(read())


def buttons(message: dict[str, Any]) -> list[str]:
    keyboard = message.get("reply_markup", {}).get("inline_keyboard", [])
    return [b["text"] for row in keyboard for b in row]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_link_details_agree_pay_and_dispute_over_telegram(
    settings: Settings, tmp_path: Path
) -> None:
    upgrade(settings.database)
    logs = tmp_path / "logs"
    emulator = EmulatorProcess(settings, logs / "emulator.log").start()
    processes = [
        WorkerProcess(settings, logs / "worker.log"),
        ServiceProcess.bot_webhook(settings, logs / "webhook.log"),
        ServiceProcess.bot(settings, logs / "bot.log", mode="kafka"),
        ServiceProcess.notifier(settings, logs / "notifier.log"),
    ]
    for process in processes:
        process.start()

    def tails() -> str:
        return "\n".join(f"--- {p.name}\n{p.log_tail(15)}" for p in processes)

    def wait(probe: Any, what: str) -> Any:
        def check() -> Any:
            for process in processes:
                assert process.alive(), f"{process.name} died:\n{process.log_tail()}"
            return probe()

        return wait_until(check, timeout_s=WAIT_S, interval_s=0.3, what=what, describe=tails)

    def last_with(chat: int, button: str, what: str) -> dict[str, Any]:
        def probe() -> Any:
            messages = emulator.bot_messages(chat)
            return messages[-1] if messages and button in buttons(messages[-1]) else None

        return wait(probe, what)

    def any_with(chat: int, test: Any, what: str) -> dict[str, Any]:
        return wait(lambda: next((m for m in emulator.bot_messages(chat) if test(m)), None), what)

    api = NotifierApi.from_settings(settings)
    try:
        sessions = make_session_factory(make_engine(settings.database))
        returns, people = ReturnsRepository(sessions), PeopleRepository(sessions)
        season = generate_season(12, YEAR, seed=11, id_prefix="e2e")
        asyncio.run(publish(season.events, settings, settings.topic_namespace))
        asyncio.run(close_year(YEAR, settings, settings.topic_namespace))

        def all_computed() -> Any:
            got = returns.latest_by_taxpayer(YEAR)
            return got if set(season.taxpayers) <= set(got) else None

        computed = wait(all_computed, "every return computed")
        phones = {p: (people.get(p) or None) for p in season.taxpayers}
        with_phone = [p for p, person in phones.items() if person is not None and person.phone]
        payer = next(p for p in with_phone if computed[p].balance_tiyin > 0)
        disputer = next(
            p
            for p in with_phone
            if p != payer
            and any(disputable(line["code"]) for line in computed[p].payload["lines"])
            and len(people.by_phone(phones[p].phone)) == 1  # type: ignore[union-attr,arg-type]
        )
        p = prompts()
        lang_a = resolve(phones[payer].preferred_language)  # type: ignore[union-attr]
        lang_b = resolve(phones[disputer].preferred_language)  # type: ignore[union-attr]
        wait(lambda: emulator.stats()["webhook"], "the webhook registered")

        # The webhook refuses an update without Telegram's secret header.
        refused = httpx.post(settings.telegram_webhook_url, json={"update_id": 1})
        assert refused.status_code == 403

        # A: the portal's deep link ► the bot links the chat and shows the return.
        link = api.issue_link_token(payer)
        a = emulator.add_user("Taxpayer A")
        emulator.start_bot(a, link.token)
        details_label = p.text(lang_a, "button.details")
        card = any_with(a, lambda m: details_label in buttons(m), "A's return card")
        assert p.money(computed[payer].balance_tiyin, lang_a) in card["text"]
        assert payer not in card["text"]
        emulator.press(a, card["message_id"], details_label)
        source = computed[payer].payload["lines"][0]["sources"][0]["record_id"]
        details = any_with(a, lambda m: source in m["text"], "the details with sources")
        query = emulator.press(a, details["message_id"], p.text(lang_a, "button.agree"))
        wait(lambda: emulator.answer(query)["answered"], "the press answered")
        yes = p.text(lang_a, "button.confirm_agree")
        confirm = last_with(a, yes, "the agreement to confirm")
        emulator.press(a, confirm["message_id"], yes)
        paid = p.text(lang_a, "title.payment_receipt", year=YEAR)
        receipt = any_with(a, lambda m: m["text"].startswith(paid), "the payment confirmation")
        assert "pay-" in receipt["text"]  # the receipt number
        wait(
            lambda: any(
                d["pinfl"] == payer and d["decision"] == "agree"
                for d in read_topic(settings, topics.DECISIONS)
            ),
            "A's agreement on decisions.v1",
        )
        assert any(i.kind == "payment_receipt" for i in api.inbox(payer))

        # The satisfaction survey (issue 15 item 3) follows the receipt in the bot (daytime:
        # no quiet hours); a score pressed there is stored with its channel, once.
        score = p.text(lang_a, "survey.score.5")
        question = last_with(a, score, "the survey question after the receipt")
        query = emulator.press(a, question["message_id"], score)
        wait(lambda: emulator.answer(query)["answered"], "the score answered")
        surveys = SurveyRepository(sessions)
        wait(lambda: surveys.answered(payer, YEAR) == {"paid"}, "the score stored")
        assert surveys.breakdowns(YEAR)["channel"] == {"telegram": 1}

        # B: a shared contact ► Disagree with one line and a reason ► a dispute.
        phone_b = phones[disputer].phone  # type: ignore[union-attr]
        b = emulator.add_user("Taxpayer B", phone_b)
        emulator.start_bot(b)
        wait(lambda: emulator.bot_messages(b), "the welcome")
        emulator.contact(b, phone_b)  # type: ignore[arg-type]
        disagree = p.text(lang_b, "button.disagree")
        card_b = any_with(b, lambda m: disagree in buttons(m), "B's return card")
        emulator.press(b, card_b["message_id"], disagree)
        lines = last_with(b, p.text(lang_b, "button.cancel"), "the lines to choose from")
        emulator.press(b, lines["message_id"], buttons(lines)[0])
        not_mine = p.text(lang_b, "reason.not_mine")
        reason = last_with(b, not_mine, "the reasons")
        emulator.press(b, reason["message_id"], not_mine)
        skip = p.text(lang_b, "button.skip")
        comment = last_with(b, skip, "the comment prompt")
        emulator.press(b, comment["message_id"], skip)
        done_label = p.text(lang_b, "button.done")
        done = last_with(b, done_label, "the line ticked")
        emulator.press(b, done["message_id"], done_label)
        send_label = p.text(lang_b, "button.send")
        send = last_with(b, send_label, "the dispute to confirm")
        emulator.press(b, send["message_id"], send_label)
        dispute = wait(
            lambda: next(
                (d for d in read_topic(settings, topics.DISPUTES) if d["pinfl"] == disputer),
                None,
            ),
            "a dispute on disputes.v1",
        )
        assert dispute["reason_code"] == "not_mine"
        disagreement = wait(
            lambda: next(
                (d for d in read_topic(settings, topics.DECISIONS) if d["pinfl"] == disputer),
                None,
            ),
            "B's disagreement on decisions.v1",
        )
        assert disagreement["decision"] == "disagree" and len(disagreement["lines"]) == 1
        any_with(b, lambda m: m["text"] == p.text(lang_b, "bot.disputed"), "B told it was sent")
        wanted = {("telegram", "sent"), ("portal", "sent")}
        wait(
            lambda: (
                wanted
                <= {(n["channel"], n["status"]) for n in read_topic(settings, topics.NOTIFICATIONS)}
            ),
            "telegram and portal deliveries on notifications.v1",
        )
    finally:
        asyncio.run(api.aclose())
        for process in reversed(processes):
            process.stop()
        emulator.stop()
