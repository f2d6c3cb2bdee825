"""The bot answers only in private chats, and a button counts only when the linked user
presses it (issue 14, Low): through the real python-telegram-bot client and the emulator."""

from __future__ import annotations

import time
from pathlib import Path

from notifier.api import NotifierApi
from tests.unit.notifier.factories import PINFL
from tests.unit.notifier.harness import Harness, running_bot


async def linked_card(h: Harness) -> tuple[dict, dict]:
    token = NotifierApi(h.parts).issue_link_token(PINFL).token
    user = h.state.add_user("Dilnoza", language_code="en")
    h.state.start(user["id"], token)
    _, card = await h.wait_for_bot(user["id"], 2)
    return user, card


async def test_the_bot_is_silent_in_group_chats(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as h:
        user, _ = await linked_card(h)
        # The emulator keeps messages per user: a second "user" stands for the group, so
        # whatever the bot sent there would be seen.
        group_id = h.state.add_user("Family group")["id"]
        group = {"id": group_id, "type": "group", "title": "Family"}
        for text in ("/return", "/help", "/start"):
            h.state.push_update(
                {
                    "message": {
                        "message_id": 1,
                        "from": h.state.user(user["id"]),
                        "chat": group,
                        "date": int(time.time()),
                        "text": text,
                        "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}],
                    }
                }
            )
        before = len(h.bot_messages(user["id"]))
        h.state.send_text(user["id"], "/help")  # the same user in the private chat: answered
        await h.wait_for_bot(user["id"], before + 1)
        await h.settle()
        assert h.bot_messages(group_id) == []


async def test_a_press_counts_only_from_the_linked_user(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as h:
        user, card = await linked_card(h)
        details = next(
            b["callback_data"]
            for row in card["reply_markup"]["inline_keyboard"]
            for b in row
            if b["text"] == "Details"
        )
        # The same button data pressed by someone else in the linked chat is refused and
        # does not use the menu up.
        press = await h.service.press(user["id"], details, "en", user_id=user["id"] + 1)
        assert press.refused == "foreign_user" and press.alert
        answer = await h.press(user["id"], card["message_id"], "Details")
        assert answer["show_alert"] is False
        await h.wait(
            lambda: "Legal basis" in h.bot_messages(user["id"])[-1]["text"], "the details shown"
        )
