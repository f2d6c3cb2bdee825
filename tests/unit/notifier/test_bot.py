"""The bot through the real python-telegram-bot client and the emulator: linking by deep
link and by contact, Details, Agree, the Disagree walk, and the refusals (forged,
replayed, foreign buttons; reused link tokens; someone else's contact)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from devtools.registries_mock.pinfl import make_pinfl
from notifier.api import NotifierApi
from storage.people import PersonUpdate
from tests.unit.notifier.factories import PINFL, return_value
from tests.unit.notifier.harness import NOW, PHONE, running_bot


def buttons(message: dict) -> list[str]:
    return [
        b["text"] for row in message.get("reply_markup", {}).get("inline_keyboard", []) for b in row
    ]


async def test_deep_link_details_agree(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as h:
        token = NotifierApi(h.parts).issue_link_token(PINFL)
        assert token.telegram_url == f"https://t.me/proactax_bot?start={token.token}"
        user = h.state.add_user("Dilnoza", language_code="en")
        h.state.start(user["id"], token.token)
        linked, card = await h.wait_for_bot(user["id"], 2)
        assert "connected" in linked["text"]
        assert "Tax to pay: 7,200,000" in card["text"] and buttons(card) == [
            "Details",
            "Agree",
            "Disagree",
        ]
        assert PINFL not in card["text"]
        link = h.parts.links.by_pinfl(PINFL)
        assert link is not None and link.chat_id == user["id"] and link.linked_via == "deep_link"

        answer, details = await h.press_for_reply(user["id"], card["message_id"], "Details")
        assert answer["show_alert"] is False
        assert "emp-m01" in details["text"] and "Legal basis" in details["text"]
        assert h.decisions.views and h.decisions.views[0]["version"] == 1

        _, confirm = await h.press_for_reply(user["id"], details["message_id"], "Agree")
        assert "7,200,000" in confirm["text"] and buttons(confirm) == ["Yes, I agree", "Back"]
        _, agreed = await h.press_for_reply(user["id"], confirm["message_id"], "Yes, I agree")
        (decision,) = h.decisions.decisions
        assert decision["decision"] == "agree" and decision["pinfl"] == PINFL
        assert decision["return_id"] == "r-1" and decision["version"] == 1
        assert "agreement is recorded" in agreed["text"]


async def test_a_link_token_works_once(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as h:
        token = NotifierApi(h.parts).issue_link_token(PINFL).token
        first, second = (
            h.state.add_user("A", language_code="en"),
            h.state.add_user("B", language_code="en"),
        )
        h.state.start(first["id"], token)
        await h.wait_for_bot(first["id"], 2)
        h.state.start(second["id"], token)  # replayed
        (refused,) = await h.wait_for_bot(second["id"], 1)
        assert "no longer works" in refused["text"]
        h.state.start(second["id"], "forged-token-0123456789")
        await h.wait_for_bot(second["id"], 2)
        link = h.parts.links.by_pinfl(PINFL)
        assert link is not None and link.chat_id == first["id"]
        assert h.parts.links.by_chat(second["id"]) is None


async def test_contact_links_only_the_senders_own_registered_phone(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as h:
        user = h.state.add_user("Aziz", PHONE, language_code="en")
        h.state.start(user["id"])
        (welcome,) = await h.wait_for_bot(user["id"], 1)
        assert "share your phone number" in welcome["text"]
        h.state.share_contact(user["id"], PHONE, contact_user_id=424242)  # someone else's
        await h.wait_for_bot(user["id"], 2)
        assert "your own phone number" in h.bot_messages(user["id"])[-1]["text"]
        h.state.share_contact(user["id"], "+998909999999")  # own, but unknown to the registry
        await h.wait_for_bot(user["id"], 3)
        assert "could not match" in h.bot_messages(user["id"])[-1]["text"]
        assert h.parts.links.by_chat(user["id"]) is None
        h.state.share_contact(user["id"], PHONE.removeprefix("+"))  # own and registered
        await h.wait_for_bot(user["id"], 5)
        link = h.parts.links.by_chat(user["id"])
        assert link is not None and link.pinfl == PINFL and link.linked_via == "contact"


async def test_forged_replayed_and_foreign_buttons_are_refused_and_answered(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as h:
        token = NotifierApi(h.parts).issue_link_token(PINFL).token
        user = h.state.add_user("A", language_code="en")
        h.state.start(user["id"], token)
        _, card = await h.wait_for_bot(user["id"], 2)
        agree = next(
            b["callback_data"]
            for row in card["reply_markup"]["inline_keyboard"]
            for b in row
            if b["text"] == "Agree"
        )
        forged = await h.press(user["id"], card["message_id"], data="AAAAAAAAAAAAAAAA:ag")
        assert forged["show_alert"] and "no longer works" in forged["text"]
        tampered = await h.press(user["id"], card["message_id"], data=agree.split(":")[0] + ":ok")
        assert tampered["show_alert"]  # a real token with an action its menu does not have
        first = await h.press(user["id"], card["message_id"], data=agree)
        assert not first["show_alert"]
        replayed = await h.press(user["id"], card["message_id"], data=agree)
        assert replayed["show_alert"] and "no longer works" in replayed["text"]
        assert h.decisions.decisions == []
        # Another chat replaying this chat's button data is refused too.
        press = await h.service.press(999, agree)
        assert press.refused == "wrong_chat" and press.alert


async def test_disagree_with_one_line_and_a_reason(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as h:
        token = NotifierApi(h.parts).issue_link_token(PINFL).token
        user = h.state.add_user("B", language_code="en")
        uid = user["id"]
        h.state.start(uid, token)
        _, card = await h.wait_for_bot(uid, 2)
        _, lines = await h.press_for_reply(uid, card["message_id"], "Disagree")
        choices = buttons(lines)
        assert choices[-1] == "Cancel" and not any("Tax to pay" in c for c in choices)
        rent = next(c for c in choices if c.startswith("Rent"))
        _, reason = await h.press_for_reply(uid, lines["message_id"], rent)
        assert buttons(reason)[:4] == ["Wrong amount", "Not mine", "Already paid", "Other reason"]
        await h.press_for_reply(uid, reason["message_id"], "Wrong amount")
        h.state.send_text(uid, "The rent was 4 000 000 a month\u200b.")
        await h.settle()
        picked = await h.wait(
            lambda: (
                h.bot_messages(uid)[-1] if "✓" in str(buttons(h.bot_messages(uid)[-1])) else None
            ),
            "the line ticked",
        )
        _, confirm = await h.press_for_reply(uid, picked["message_id"], "Done")
        assert "Wrong amount" in confirm["text"] and "4 000 000" in confirm["text"]
        await h.press_for_reply(uid, confirm["message_id"], "Send the dispute")
        (decision,) = h.decisions.decisions
        assert decision["decision"] == "disagree"
        assert decision["lines"] == [
            {
                "code": "rental.income_individual_tenant",
                "subject": "N-l-1",
                "reason_code": "wrong_amount",
                "comment": "The rent was 4 000 000 a month.",
            }
        ]
        assert h.parts.conversations.get(uid)[0] == "idle"


async def test_unlink_and_language(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as h:
        token = NotifierApi(h.parts).issue_link_token(PINFL).token
        user = h.state.add_user("C", language_code="en")
        uid = user["id"]
        h.state.start(uid, token)
        await h.wait_for_bot(uid, 2)
        h.state.send_text(uid, "/language")
        menu = (await h.wait_for_bot(uid, 3))[-1]
        assert "Русский" in buttons(menu)
        _, chosen = await h.press_for_reply(uid, menu["message_id"], "Русский")
        assert "по-русски" in chosen["text"]
        h.state.send_text(uid, "/return")
        card = (await h.wait_for_bot(uid, 4))[-1]
        assert "Налог к уплате" in card["text"]
        h.state.send_text(uid, "/unlink")
        await h.wait_for_bot(uid, 5)
        assert h.parts.links.by_pinfl(PINFL) is None
        stale = await h.press(uid, card["message_id"], "Подробнее")
        assert stale["show_alert"]  # buttons of an unlinked chat do nothing


async def test_a_refused_decision_is_explained(tmp_path: Path) -> None:
    from notifier.decisions import DecisionRefused

    async with running_bot(tmp_path) as h:

        async def refuse(**_: object) -> dict:
            raise DecisionRefused("already_settled", "paid")

        h.decisions.submit_decision = refuse  # type: ignore[method-assign]
        token = NotifierApi(h.parts).issue_link_token(PINFL).token
        user = h.state.add_user("D", language_code="en")
        h.state.start(user["id"], token)
        _, card = await h.wait_for_bot(user["id"], 2)
        _, confirm = await h.press_for_reply(user["id"], card["message_id"], "Agree")
        answer = await h.press(user["id"], confirm["message_id"], "Yes, I agree")
        assert answer["show_alert"] and "already settled" in answer["text"]


async def test_a_chat_relinked_to_another_taxpayer_leaves_the_first_ones_buttons_dead(
    tmp_path: Path,
) -> None:
    """One phone, two taxpayers (a family): the chat is relinked from A to B with B's deep
    link. A's card, still in the chat, must not show, view or decide anything of A's."""
    other = make_pinfl(dt.date(1985, 3, 4), "F", 300, 7)
    async with running_bot(tmp_path) as h:
        h.parts.people.apply(
            [PersonUpdate(other, 1, {"full_name": "Second Person", "preferred_language": "en"})],
            NOW,
        )
        h.parts.returns.save_versions([return_value(pinfl=other, return_id="r-2")], NOW)
        user = h.state.add_user("Family phone", language_code="en")
        uid = user["id"]
        h.state.start(uid, NotifierApi(h.parts).issue_link_token(PINFL).token)
        _, card_a = await h.wait_for_bot(uid, 2)
        _, confirm_a = await h.press_for_reply(uid, card_a["message_id"], "Agree")
        h.state.start(uid, NotifierApi(h.parts).issue_link_token(other).token)
        card_b = (await h.wait_for_bot(uid, 4))[-1]
        link = h.parts.links.by_chat(uid)
        assert link is not None and link.pinfl == other
        shown = len(h.bot_messages(uid))

        agree = await h.press(uid, confirm_a["message_id"], "Yes, I agree")
        assert agree["show_alert"] and "no longer works" in agree["text"]
        details = await h.press(uid, card_b["message_id"], "Details")  # B's card: live
        assert not details["show_alert"]
        await h.wait(lambda: h.decisions.views, "B's return viewed")
        assert [v["pinfl"] for v in h.decisions.views] == [other]
        assert h.decisions.decisions == []
        assert len(h.bot_messages(uid)) == shown  # nothing of A's was shown again
