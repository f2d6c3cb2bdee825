"""The dispute walk leaves no live buttons behind (issue 15, item 7): the "No comment"
("Izohsiz") button of a comment prompt answered by typing must not act on a later walk."""

from __future__ import annotations

from pathlib import Path

from notifier.api import NotifierApi
from tests.unit.notifier.factories import PINFL
from tests.unit.notifier.harness import running_bot


def buttons(message: dict) -> list[str]:
    return [
        b["text"] for row in message.get("reply_markup", {}).get("inline_keyboard", []) for b in row
    ]


async def test_the_no_comment_button_is_dead_once_a_comment_was_typed(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as h:
        user = h.state.add_user("E", language_code="en")
        uid = user["id"]
        h.state.start(uid, NotifierApi(h.parts).issue_link_token(PINFL).token)
        _, card = await h.wait_for_bot(uid, 2)

        async def to_comment_prompt(card: dict) -> dict:
            _, lines = await h.press_for_reply(uid, card["message_id"], "Disagree")
            rent = next(c for c in buttons(lines) if c.startswith("Rent"))
            _, reason = await h.press_for_reply(uid, lines["message_id"], rent)
            _, prompt = await h.press_for_reply(uid, reason["message_id"], "Wrong amount")
            assert buttons(prompt) == ["No comment"]
            return prompt

        prompt = await to_comment_prompt(card)
        shown = len(h.bot_messages(uid))
        h.state.send_text(uid, "The rent was lower.")
        (*_, ticked) = await h.wait_for_bot(uid, shown + 1)
        _, confirm = await h.press_for_reply(uid, ticked["message_id"], "Done")
        await h.press_for_reply(uid, confirm["message_id"], "Send the dispute")
        assert len(h.decisions.decisions) == 1
        assert h.parts.conversations.get(uid)[0] == "idle"

        # A second walk over the same line reaches the same step; the old button stays dead.
        h.state.send_text(uid, "/return")
        card = (await h.wait_for_bot(uid, shown + 2))[-1]
        await to_comment_prompt(card)
        stale = await h.press(uid, prompt["message_id"], "No comment")
        assert stale["show_alert"] and "no longer works" in stale["text"]
        assert h.parts.conversations.get(uid)[0] == "awaiting_comment"
