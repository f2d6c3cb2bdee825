"""The satisfaction survey in Telegram (issue 15 item 3), through the real
python-telegram-bot client and the emulator: after a receipt the notifier plans one
question per return (held by quiet hours), a press stores the score with the channel
``telegram``, a typed comment is stored, a second press does nothing, and an answer on
either channel stops the other from asking."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from core.clock import TASHKENT, FixedClock
from notifier.api import NotifierApi
from notifier.delivery import Sender, SmsChannel, TelegramChannel
from notifier.ingest import Ingest
from storage.database import make_engine, make_session_factory
from storage.portal.surveys import PortalSurvey
from tests.unit.notifier.factories import PINFL, notice
from tests.unit.notifier.harness import NOW, Harness, running_bot

YEAR = 2026
NIGHT = dt.datetime(2027, 2, 10, 22, 0, tzinfo=TASHKENT)
QUESTION = "How satisfied are you"


def receipt(kind: str = "payment_receipt", occasion: str = "1") -> bytes:
    return json.dumps(
        notice(
            kind,
            notice_id=f"{kind}:r-1:1:{occasion}",
            balance_tiyin=0,
            details={"receipt_id": f"pay-{occasion}", "amount_tiyin": 720_000_000},
        )
    ).encode()


def buttons(message: dict[str, Any]) -> list[str]:
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return [b["text"] for row in rows for b in row]


def data_of(message: dict[str, Any], text: str) -> str:
    rows = message["reply_markup"]["inline_keyboard"]
    return next(b["callback_data"] for row in rows for b in row if b["text"] == text)


def answers(h: Harness) -> list[tuple[str, int, str, str, str]]:
    sessions = make_session_factory(make_engine(h.parts.settings.database))
    with sessions() as session:
        return [
            (r.trigger, r.score, r.comment, r.channel, r.language)
            for r in session.query(PortalSurvey).filter_by(pinfl=PINFL, tax_year=YEAR)
        ]


def notifier_for(h: Harness, clock: FixedClock) -> tuple[Ingest, Sender]:
    parts = h.parts
    ingest = Ingest(
        parts.deliveries,
        parts.links,
        parts.people,
        parts.prompts,
        parts.secret,
        "https://p",
        parts.quiet,
        clock,
        surveys=parts.surveys,
    )
    sender = Sender(
        deliveries=parts.deliveries,
        links=parts.links,
        people=parts.people,
        telegram=TelegramChannel(parts.bot(), parts.keyboards, parts.prompts, parts.secret, "p"),
        sms=SmsChannel(parts.sms_outbox, parts.prompts, parts.secret, "https://p", clock),
        limiter=parts.limiter(),
        quiet=parts.quiet,
        clock=clock,
        owner="test-sender",
        per_chat_interval_s=0.0,
    )
    return ingest, sender


@asynccontextmanager
async def sending(sender: Sender) -> AsyncIterator[None]:
    stop = asyncio.Event()
    async with sender.telegram.bot:
        task = asyncio.create_task(sender.run(stop))
        try:
            yield
        finally:
            stop.set()
            await task


async def linked(h: Harness) -> int:
    user = h.state.add_user("Dilnoza", language_code="en")
    h.state.start(user["id"], NotifierApi(h.parts).issue_link_token(PINFL).token)
    await h.wait_for_bot(user["id"], 2)  # "connected" and the return card
    return int(user["id"])


def questions(h: Harness, chat: int) -> list[dict[str, Any]]:
    return [m for m in h.bot_messages(chat) if QUESTION in (m.get("text") or "")]


async def test_asked_once_a_press_stores_the_score_then_the_comment(tmp_path: Any) -> None:
    async with running_bot(tmp_path) as h:
        chat = await linked(h)
        ingest, sender = notifier_for(h, FixedClock(NOW))
        # portal copy + Telegram receipt + the survey question
        assert ingest.accept([receipt()]) == 3
        # a later refund of the same return, and a replay: no second question
        assert ingest.accept([receipt("refund_notice", "2"), receipt()]) == 2
        async with sending(sender):
            await h.wait_for_bot(chat, 5)  # + receipt, refund notice, question
            await h.wait(lambda: len(questions(h, chat)) == 1 or None, "the question")
        (question,) = questions(h, chat)
        assert f"{YEAR} income tax return" in question["text"]
        assert buttons(question) == ["1", "2", "3", "4", "5"]
        five = data_of(question, "5")

        answer, asked = await h.press_for_reply(chat, question["message_id"], "4")
        assert answer["show_alert"] is False
        assert "your score is 4" in asked["text"] and buttons(asked) == ["Skip"]
        assert answers(h) == [("paid", 4, "", "telegram", "en")]

        # the same question pressed again (another score): nothing changes
        again = await h.press(chat, question["message_id"], data=five)
        assert again["show_alert"] is True
        assert answers(h) == [("paid", 4, "", "telegram", "en")]

        before = len(h.bot_messages(chat))
        h.state.send_text(chat, "Quick and clear")
        (thanks,) = (await h.wait_for_bot(chat, before + 1))[before:]
        assert thanks["text"] == "Thank you for your answer."
        assert answers(h) == [("paid", 4, "Quick and clear", "telegram", "en")]
        # the prompt's Skip is retired by the typed comment
        late = await h.press(chat, asked["message_id"], "Skip")
        assert late["show_alert"] is True
        # a second typed message is not a comment any more
        h.state.send_text(chat, "And another thing")
        await h.wait_for_bot(chat, before + 2)
        assert answers(h)[0][2] == "Quick and clear"
        # the portal does not ask again: the occasion is answered
        assert h.parts.surveys.answered(PINFL, YEAR) == {"paid"}


async def test_skip_keeps_the_score_without_a_comment(tmp_path: Any) -> None:
    async with running_bot(tmp_path) as h:
        chat = await linked(h)
        ingest, sender = notifier_for(h, FixedClock(NOW))
        ingest.accept([receipt("refund_notice")])
        async with sending(sender):
            await h.wait(lambda: len(questions(h, chat)) == 1 or None, "the question")
        (question,) = questions(h, chat)
        _, asked = await h.press_for_reply(chat, question["message_id"], "2")
        _, done = await h.press_for_reply(chat, asked["message_id"], "Skip")
        assert done["text"] == "Thank you for your answer."
        assert answers(h) == [("refunded", 2, "", "telegram", "en")]


async def test_a_message_long_after_the_score_is_not_its_comment(tmp_path: Any) -> None:
    async with running_bot(tmp_path) as h:
        chat = await linked(h)
        ingest, sender = notifier_for(h, FixedClock(NOW))
        ingest.accept([receipt()])
        async with sending(sender):
            await h.wait(lambda: len(questions(h, chat)) == 1 or None, "the question")
        (question,) = questions(h, chat)
        await h.press_for_reply(chat, question["message_id"], "3")
        h.parts.clock.advance(dt.timedelta(hours=2))  # type: ignore[attr-defined]
        before = len(h.bot_messages(chat))
        h.state.send_text(chat, "Where is my refund?")
        (reply,) = (await h.wait_for_bot(chat, before + 1))[before:]
        assert reply["text"] != "Thank you for your answer."
        assert answers(h) == [("paid", 3, "", "telegram", "en")]


async def test_quiet_hours_defer_the_question_but_not_the_receipt(tmp_path: Any) -> None:
    async with running_bot(tmp_path) as h:
        chat = await linked(h)
        clock = FixedClock(NIGHT)
        ingest, sender = notifier_for(h, clock)
        ingest.accept([receipt()])
        (held,) = [d for d in h.parts.deliveries.for_pinfl(PINFL) if d.kind == "survey"]
        assert held.not_before == dt.datetime(2027, 2, 11, 9, 0, tzinfo=TASHKENT)
        async with sending(sender):
            await h.wait_for_bot(chat, 3)  # the receipt goes at once
            assert questions(h, chat) == []
            # the sender runs on: still night, still no question
            await h.wait(lambda: sender.sent >= 1 or None, "the receipt counted")
            assert questions(h, chat) == []
            clock.current = dt.datetime(2027, 2, 11, 9, 0, 1, tzinfo=TASHKENT)
            await h.wait(lambda: len(questions(h, chat)) == 1 or None, "the morning question")


async def test_no_question_when_the_portal_already_has_the_answer(tmp_path: Any) -> None:
    async with running_bot(tmp_path) as h:
        await linked(h)
        h.parts.surveys.answer(PINFL, YEAR, "agreed", 5, "", "en", NOW)  # on the portal
        ingest, _ = notifier_for(h, FixedClock(NOW))
        assert ingest.accept([receipt()]) == 2  # portal copy and receipt, no question
        assert not [d for d in h.parts.deliveries.for_pinfl(PINFL) if d.kind == "survey"]


async def test_a_press_after_a_portal_answer_stores_nothing(tmp_path: Any) -> None:
    async with running_bot(tmp_path) as h:
        chat = await linked(h)
        ingest, sender = notifier_for(h, FixedClock(NOW))
        ingest.accept([receipt()])
        async with sending(sender):
            await h.wait(lambda: len(questions(h, chat)) == 1 or None, "the question")
        h.parts.surveys.answer(PINFL, YEAR, "paid", 3, "", "en", NOW)  # portal, meanwhile
        (question,) = questions(h, chat)
        _, said = await h.press_for_reply(chat, question["message_id"], "5")
        assert "already answered" in said["text"]
        assert answers(h) == [("paid", 3, "", "portal", "en")]


def test_survey_statuses_stay_out_of_notifications() -> None:
    """The relay publishes no status of a survey delivery (the lifecycle's funnel counts
    notices, not the bot's own question)."""
    from notifier.relay import Relay

    class Events:
        def __init__(self) -> None:
            self.rows = [
                (1, PINFL, {"kind": "survey", "status": "sent"}),
                (2, PINFL, {"kind": "payment_receipt", "status": "sent"}),
            ]
            self.deleted: list[int] = []

        def fetch(self, limit: int) -> list[Any]:
            rows, self.rows = self.rows, []
            return rows

        def delete(self, ids: list[int]) -> None:
            self.deleted.extend(ids)

    class Producer:
        def __init__(self) -> None:
            self.sent: list[bytes] = []

        async def send(self, topic: str, value: bytes, key: bytes) -> Any:
            self.sent.append(value)
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            future.set_result(None)
            return future

    events, producer = Events(), Producer()
    relay = Relay(events, producer)  # type: ignore[arg-type]
    assert asyncio.run(relay.publish_some()) == 2
    assert [json.loads(v)["kind"] for v in producer.sent] == ["payment_receipt"]
    assert events.deleted == [1, 2]
