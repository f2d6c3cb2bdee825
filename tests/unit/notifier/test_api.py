"""What the portal calls: link tokens, inbox with object-level checks, message
verification, sign-in codes through the bot or the SMS stub, the planner's projection;
and the webhook receiver's secret check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from notifier import codes
from notifier.api import NotifierApi
from notifier.ingest import Ingest
from notifier.telegram.webhook import SECRET_HEADER, chat_of, create_app
from tests.unit.notifier.factories import PINFL, notice
from tests.unit.notifier.harness import PHONE, running_bot


async def test_sign_in_codes_go_to_the_linked_chat_or_by_sms(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as h:
        api = NotifierApi(h.parts)
        sms = await api.send_sign_in_code(PINFL)  # not linked yet: the SMS stub
        assert sms.sent and sms.channel == "sms"
        ((phone, text, _),) = h.parts.sms_outbox.for_pinfl(PINFL)
        assert phone == PHONE
        code = next(
            word for word in text.replace("\n", " ").split() if word.isdigit() and len(word) == 6
        )
        assert (await api.send_sign_in_code(PINFL)).reason == "too_soon"
        assert api.verify_sign_in_code(PINFL, "000000" if code != "000000" else "111111") == "wrong"
        assert api.verify_sign_in_code(PINFL, code) == "ok"
        assert api.verify_sign_in_code(PINFL, code) == "none"  # single use

        user = h.state.add_user("E", language_code="en")
        h.parts.links.link(user["id"], user["id"], PINFL, "deep_link", h.parts.clock.now())
        h.parts.clock.advance(__import__("datetime").timedelta(minutes=2))  # type: ignore[attr-defined]
        by_bot = await api.send_sign_in_code(PINFL)
        assert by_bot.sent and by_bot.channel == "telegram"
        (message,) = h.bot_messages(user["id"])
        assert "sign-in code" in message["text"] and "Never tell it" in message["text"]
        await api.aclose()


async def test_the_inbox_is_per_taxpayer_and_verifies_codes(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as h:
        api = NotifierApi(h.parts)
        ingest = Ingest(
            h.parts.deliveries,
            h.parts.links,
            h.parts.people,
            h.parts.prompts,
            h.parts.secret,
            "https://p",
            h.parts.quiet,
            h.parts.clock,
        )
        ingest.accept(
            [json.dumps(notice()).encode(), json.dumps(notice(pinfl="31507900123469")).encode()]
        )
        (mine,) = api.inbox(PINFL)
        assert api.unread_count(PINFL) == 1 and mine.title.startswith("Your income tax return")
        other = api.inbox("31507900123469")[0]
        assert api.inbox_message(PINFL, other.id) is None  # not this taxpayer's
        assert not api.mark_read(PINFL, other.id)
        assert api.mark_read(PINFL, mine.id) and api.unread_count(PINFL) == 0
        found = api.verify_message(PINFL, mine.verification_code.lower().replace("-", " "))
        assert found is not None and found.id == mine.id
        assert api.verify_message(PINFL, other.verification_code) is None
        assert api.verify_message(PINFL, "ABCD-EFGH") is None
        token = api.issue_link_token(PINFL)
        assert (
            h.parts.tokens.consume(codes.token_hash(token.token), 1, h.parts.clock.now())[0]
            == PINFL
        )
        plan = api.projection().as_dict()
        assert plan["total"] == 1 and plan["waves"][0]["channel"] == "sms"  # not linked: SMS
        assert api.delivery_counts()["portal"] == {"sent": 2}


class Producer:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.fail = fail

    async def send_and_wait(self, topic: str, value: bytes, key: bytes) -> Any:
        if self.fail:
            raise ConnectionError("broker down")
        self.sent.append((topic, value, key))


async def test_the_webhook_checks_the_secret_and_keys_updates_by_chat() -> None:
    producer = Producer()
    async with TestClient(TestServer(create_app("s3cret", producer, "t.updates"))) as client:
        update = {
            "update_id": 7,
            "callback_query": {"id": "1", "from": {"id": 5}, "message": {"chat": {"id": 42}}},
        }
        assert (await client.post("/telegram/webhook", json=update)).status == 403
        wrong = await client.post("/telegram/webhook", json=update, headers={SECRET_HEADER: "nope"})
        assert wrong.status == 403
        ok = await client.post("/telegram/webhook", json=update, headers={SECRET_HEADER: "s3cret"})
        assert ok.status == 200
        bad = await client.post("/telegram/webhook", data=b"[]", headers={SECRET_HEADER: "s3cret"})
        assert bad.status == 400
    assert producer.sent == [("t.updates", json.dumps(update).encode(), b"42")]
    down = Producer(fail=True)
    async with TestClient(TestServer(create_app("s3cret", down, "t"))) as client:
        response = await client.post(
            "/telegram/webhook", json=update, headers={SECRET_HEADER: "s3cret"}
        )
        assert response.status == 503  # Telegram delivers it again
    assert chat_of({"update_id": 1, "message": {"chat": {"id": -9}}}) == -9
    assert chat_of({"update_id": 1}) == 0
