"""The Bot API emulator answers the real python-telegram-bot client like Telegram does."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter

from notifier.telegram.emulator.state import Limits
from notifier.telegram.errors import retry_after_s
from tests.support.waiting import await_until
from tests.unit.notifier.emulated import bot_for, emulator


async def test_get_me_and_a_message_with_buttons() -> None:
    async with emulator() as (state, url):
        user = state.add_user("Dilnoza", "+998901234567")
        async with bot_for(url) as bot:
            me = await bot.get_me()
            assert me.is_bot and me.username == "proactax_bot"
            markup = InlineKeyboardMarkup([[InlineKeyboardButton("Agree", callback_data="x:ag")]])
            sent = await bot.send_message(user["id"], "Hello", reply_markup=markup)
            assert sent.chat.id == user["id"] and sent.text == "Hello"
            edited = await bot.edit_message_text("Hello again", user["id"], sent.message_id)
            assert edited.text == "Hello again"  # type: ignore[union-attr]
            with pytest.raises(BadRequest, match="not modified"):
                await bot.edit_message_text("Hello again", user["id"], sent.message_id)
            await bot.edit_message_reply_markup(user["id"], sent.message_id, reply_markup=markup)
        assert [m["text"] for m in state.bot_messages(user["id"])] == ["Hello again"]


async def test_long_poll_gets_injected_updates_and_the_offset_confirms_them() -> None:
    async with emulator() as (state, url):
        user = state.add_user("Aziz")
        async with bot_for(url) as bot:
            poll = asyncio.create_task(bot.get_updates(timeout=5))
            await await_until(
                lambda: _true(state.long_polls_waiting > 0),
                timeout_s=5,
                what="the long poll is parked",
            )
            state.start(user["id"], "TOKEN123")
            updates = await poll
            assert updates[0].message.text == "/start TOKEN123"  # type: ignore[union-attr]
            state.share_contact(user["id"], "+998901112233")
            more = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=1)
            assert more[0].message.contact.phone_number == "+998901112233"  # type: ignore[union-attr]
            assert more[0].message.contact.user_id == user["id"]  # type: ignore[union-attr]
            assert await bot.get_updates(offset=more[-1].update_id + 1, timeout=0) == ()


async def test_a_button_press_is_a_callback_query_the_bot_answers() -> None:
    async with emulator() as (state, url):
        user = state.add_user("Aziz")
        async with bot_for(url) as bot:
            markup = InlineKeyboardMarkup([[InlineKeyboardButton("Details", callback_data="t:dt")]])
            sent = await bot.send_message(user["id"], "Return", reply_markup=markup)
            _, query_id = state.press(user["id"], sent.message_id, button_text="Details")
            (update,) = await bot.get_updates(timeout=1)
            assert update.callback_query.data == "t:dt"  # type: ignore[union-attr]
            assert await bot.answer_callback_query(query_id, text="OK")
            assert state.callbacks[query_id] == {
                "answered": True,
                "text": "OK",
                "show_alert": False,
            }


async def test_limits_answer_429_with_retry_after_and_blocked_users_403() -> None:
    limits = Limits(global_rate=3, per_chat_rate=100, per_chat_burst=100)
    async with emulator(limits) as (state, url):
        user = state.add_user("Aziz")
        async with bot_for(url) as bot:
            for _ in range(3):
                await bot.send_message(user["id"], "ok")
            with pytest.raises(RetryAfter) as caught:
                await bot.send_message(user["id"], "too fast")
            assert retry_after_s(caught.value) == 1
            state.set_blocked(user["id"], True)
            with pytest.raises(Forbidden, match="blocked"):
                await bot.send_message(user["id"], "blocked")
            with pytest.raises(BadRequest, match=r"(?i)chat not found"):
                await bot.send_message(424242, "nobody")
        with pytest.raises(InvalidToken):
            async with bot_for(url, "1000000001:wrong") as bad:
                await bad.get_me()
    assert state.stats["429"] == 1 and state.stats["403"] == 1


async def test_paid_broadcast_has_its_own_higher_limit() -> None:
    limits = Limits(global_rate=2, paid_rate=50, per_chat_rate=100, per_chat_burst=100)
    async with emulator(limits) as (state, url):
        user = state.add_user("Aziz")
        async with bot_for(url) as bot:
            for _ in range(20):
                await bot.send_message(user["id"], "paid", allow_paid_broadcast=True)
    assert state.stats["sendMessage"] == 20 and state.stats["429"] == 0


async def test_the_control_api_and_the_page() -> None:
    async with emulator() as (state, url):
        async with httpx.AsyncClient(base_url=url) as client:
            user = (await client.post("/control/users", json={"first_name": "Kamola"})).json()
            uid = user["id"]
            assert (
                await client.post(f"/control/users/{uid}/start", json={"payload": "abc"})
            ).json()
            assert state.updates[-1]["message"]["text"] == "/start abc"
            page = await client.get(f"/chat/{uid}")
            assert page.status_code == 200 and "/start abc" in page.text
            landing = await client.get("/start", params={"payload": "tok", "name": "Ali"})
            assert landing.status_code == 303
            stats = (await client.get("/control/stats")).json()
            assert stats["users"] == 2 and stats["pending_updates"] == 2


async def _true(value: bool) -> bool:
    return value


async def test_the_page_keeps_buttons_next_to_their_message() -> None:
    """Only a message's text keeps its line breaks: the template's own newlines between
    the text and the buttons must not show as blank lines (issue 15, item 7)."""
    import re

    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    async with emulator() as (state, url):
        user = state.add_user("Kamola")
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Details", callback_data="t:dt")]])
        async with bot_for(url) as bot:
            await bot.send_message(user["id"], "Line one\nLine two", reply_markup=keyboard)
        async with httpx.AsyncClient(base_url=url) as client:
            log = (await client.get(f"/chat/{user['id']}/log")).text
            page = (await client.get(f"/chat/{user['id']}")).text
    assert '<div class="text">Line one\nLine two</div>' in log
    styles = dict(re.findall(r"^\s*([^{}\n]+?)\s*\{([^}]*)\}", page, re.MULTILINE))
    pre_wrapped = sorted(sel for sel, body in styles.items() if "pre-wrap" in body)
    assert pre_wrapped == [".msg .text"]
