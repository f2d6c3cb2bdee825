"""Karakalpak (``kaa``) is a language of its own (issue 15, item 5): a taxpayer whose
population record says ``kaa`` reads Karakalpak in every notifier channel (Telegram, SMS,
the portal inbox) and in the bot's conversation, never the Uzbek texts."""

from __future__ import annotations

from pathlib import Path

from core.clock import FixedClock
from notifier.api import NotifierApi
from notifier.prompts import prompts
from storage.people import PersonUpdate
from tests.unit.notifier.emulated import emulator
from tests.unit.notifier.factories import PINFL
from tests.unit.notifier.harness import running_bot
from tests.unit.notifier.test_delivery import (
    DAY,
    drain,
    link_all,
    notices,
    pinfl,
    setup,
    statuses,
)

KAA_TITLE = "2026-jıl ushın dáramat salıǵı deklaraciyańız tayar"
UZ_TITLE = "2026 yil uchun daromad soligʻi deklaratsiyangiz tayyor"


def buttons(message: dict) -> list[str]:
    return [
        b["text"] for row in message.get("reply_markup", {}).get("inline_keyboard", []) for b in row
    ]


async def test_a_karakalpak_taxpayer_gets_karakalpak_notices_in_every_channel(
    tmp_path: Path,
) -> None:
    async with emulator() as (state, url):
        clock = FixedClock(DAY)
        parts, sender, ingest = setup(tmp_path, url, clock, 2)  # both read Russian at first
        parts.people.apply(
            [
                PersonUpdate(pinfl(i), 2, {"phone": f"+99890{i:07d}", "preferred_language": "kaa"})
                for i in range(2)
            ],
            clock.now(),
        )
        (chat, _) = link_all(parts, state, 2, clock)
        parts.links.unlink_pinfl(pinfl(1))  # the second one reads SMS
        async with sender.telegram.bot:
            ingest.accept(notices(2))

            async def done() -> bool:
                return statuses(parts).get("sent") == 1 and statuses(parts, "sms").get("sent") == 1

            await drain(sender, parts, done)
        (telegram,) = state.bot_messages(chat)
        assert (
            KAA_TITLE in telegram["text"]
            and "Tólenetuǵın salıq: 7\u00a0200\u00a0000" in (telegram["text"])
        )
        assert "Tekseriw kodı" in telegram["text"] and UZ_TITLE not in telegram["text"]
        ((_, sms, _),) = parts.sms_outbox.for_pinfl(pinfl(1))
        assert sms.startswith("Dáramat salıǵı 2026: portalda jańa xabar bar")
        for i in range(2):
            (inbox,) = parts.inbox.list(pinfl(i))
            assert inbox.language == "kaa" and inbox.title == KAA_TITLE
            assert {d.language for d in parts.deliveries.for_pinfl(pinfl(i))} == {"kaa"}


async def test_a_karakalpak_taxpayer_talks_to_the_bot_in_karakalpak(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as h:
        h.parts.people.apply(
            [PersonUpdate(PINFL, 2, {"full_name": "Test Person", "preferred_language": "kaa"})],
            h.parts.clock.now(),
        )
        token = NotifierApi(h.parts).issue_link_token(PINFL).token
        user = h.state.add_user("Ayjamal", language_code="uz")  # the record decides, not this
        uid = user["id"]
        h.state.start(uid, token)
        linked, card = await h.wait_for_bot(uid, 2)
        assert linked["text"] == "Salıq esabıńız usı chatqa jalǵandı."
        assert "Tólenetuǵın salıq: 7\u00a0200\u00a0000\u00a0swm" in card["text"]
        assert buttons(card) == ["Tolıǵıraq", "Kelisemen", "Kelispeymen"]
        _, details = await h.press_for_reply(uid, card["message_id"], "Tolıǵıraq")
        assert "Huqıqıy tiykar: Salıq kodeksi" in details["text"]
        assert "Miynet dáramatı" in details["text"] and "Tax Code" not in details["text"]
        _, pick = await h.press_for_reply(uid, details["message_id"], "Kelispeymen")
        assert pick["text"].startswith("Qaysı qatarlarǵa kelispeysiz?")
        shown = len(h.bot_messages(uid))
        h.state.send_text(uid, "/language")
        menu = (await h.wait_for_bot(uid, shown + 1))[-1]
        assert menu["text"] == "Tildi saylań:"
        assert buttons(menu) == ["Oʻzbekcha", "Ўзбекча", "Русский", "English", "Qaraqalpaqsha"]


async def test_karakalpak_can_be_chosen_in_the_bot(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as h:  # the record says English
        token = NotifierApi(h.parts).issue_link_token(PINFL).token
        user = h.state.add_user("Berdaq", language_code="en")
        uid = user["id"]
        h.state.start(uid, token)
        await h.wait_for_bot(uid, 2)
        h.state.send_text(uid, "/language")
        menu = (await h.wait_for_bot(uid, 3))[-1]
        _, chosen = await h.press_for_reply(uid, menu["message_id"], "Qaraqalpaqsha")
        assert chosen["text"] == "Bot endi qaraqalpaq tilinde sóyleydi."
        h.state.send_text(uid, "/return")
        card = (await h.wait_for_bot(uid, 4))[-1]
        assert buttons(card) == ["Tolıǵıraq", "Kelisemen", "Kelispeymen"]


def test_the_legal_reference_and_amounts_read_karakalpak() -> None:
    p = prompts()
    assert p.money(123_456_78, "kaa") == "123\u00a0456,78\u00a0swm"
    assert p.text("kaa", "deadline.first_notice", date=p.date("2027-04-01", "kaa")) == (
        "Iltimas, 2027-jıl 1-aprel kúnine shekem kelisimińizdi yamasa narazılıǵıńızdı bildiriń."
    )
