"""The cabinet's flows through the real app: view (recorded), lines and sources, agree ►
payment ► receipt ► survey, pay, disagree per line, history, inbox, Telegram link, and
the language switch."""

from __future__ import annotations

import json
import re

from portal.web import i18n
from storage.portal.surveys import SurveyRepository
from tests.unit.portal_web.conftest import (
    ALICE,
    BOB,
    YEAR,
    World,
    csrf_of,
    landlord,
    new_client,
    sign_in,
)


def test_agree_pay_receipt_and_survey(world: World) -> None:
    with new_client(world) as client:
        sign_in(client, world, ALICE)
        index = client.get("/cabinet")
        assert "2026" in index.text and "1,200,000.00" in index.text
        page = client.get(f"/cabinet/returns/{YEAR}")
        assert world.lifecycle.case(ALICE, YEAR).state == "viewed"  # the view is recorded
        assert "Rent from an individual tenant" in page.text and "LEASE-1" in page.text
        line = client.get(f"/cabinet/returns/{YEAR}/lines/0?version=1")
        assert "Notary lease register" in line.text and "LEASE-1" in line.text
        r = client.post(
            f"/cabinet/returns/{YEAR}/agree",
            data={"version": "1", "csrf_token": csrf_of(page.text)},
        )
        assert "refresh" in r.text  # waiting for the worker
        (topic, key, raw) = world.producer.sent[0]
        assert topic == "unit.decisions.v1" and key == ALICE.encode()
        assert json.loads(raw)["decision"] == "agree" and json.loads(raw)["channel"] == "portal"
        world.apply_sent_decisions()
        r = client.get(r.url)
        assert r.url.path == f"/cabinet/returns/{YEAR}/payment"
        assert "Payment in progress" in r.text
        world.settle_all()
        r = client.get(f"/cabinet/returns/{YEAR}/payment")
        assert "Paid." in r.text and "How was it?" in r.text
        receipt_url = re.search(r'href="(/cabinet/receipts/[^"?]+)"', r.text).group(1)
        receipt = client.get(receipt_url)
        case = world.lifecycle.case(ALICE, YEAR)
        assert case.version.reproducibility_hash in receipt.text and "1,200,000.00" in receipt.text
        download = client.get(receipt_url + "?download=1")
        assert "attachment" in download.headers["content-disposition"]
        r = client.post(
            f"/cabinet/returns/{YEAR}/survey",
            data={"score": "5", "comment": "Easy", "csrf_token": csrf_of(r.text)},
        )
        assert "Thank you" in r.text
        scores = SurveyRepository(world.sessions).scores(YEAR)
        assert scores.responses == 1 and scores.average == 5
        assert "How was it?" not in client.get(f"/cabinet/returns/{YEAR}/payment").text


def test_pay_button_agrees_and_pays_at_once(world: World) -> None:
    with new_client(world) as client:
        sign_in(client, world, ALICE)
        world.lifecycle.apply(
            lambda case: world.machine.on_view(case, 1, "portal", world.clock.now()),
            taxpayer=(ALICE, YEAR),
        )
        page = client.get(f"/cabinet/returns/{YEAR}")
        r = client.post(f"/cabinet/returns/{YEAR}/pay", data={"csrf_token": csrf_of(page.text)})
        assert r.url.path.endswith("/payment")
        assert world.lifecycle.case(ALICE, YEAR).state == "payment_pending"


def test_disagree_with_a_line(world: World) -> None:
    with new_client(world) as client:
        sign_in(client, world, ALICE)
        form = client.get(f"/cabinet/returns/{YEAR}/disagree?line=0")
        assert "base.general" not in form.text  # computed lines cannot be disputed
        r = client.post(
            f"/cabinet/returns/{YEAR}/disagree",
            data={"version": "1", "csrf_token": csrf_of(form.text)},
        )
        assert r.status_code == 400  # no line ticked
        client.post(
            f"/cabinet/returns/{YEAR}/disagree",
            data={
                "version": "1",
                "line_0": "on",
                "reason_0": "wrong_amount",
                "comment_0": "The rent was lower.",
                "csrf_token": csrf_of(form.text),
            },
        )
        (_, _, raw) = world.producer.sent[0]
        value = json.loads(raw)
        assert value["decision"] == "disagree"
        assert value["lines"] == [
            {
                "code": "rental.income_individual_tenant",
                "reason_code": "wrong_amount",
                "comment": "The rent was lower.",
                "subject": "CN-1",
            }
        ]
        world.apply_sent_decisions()
        page = client.get(f"/cabinet/returns/{YEAR}")
        assert "Your disagreements" in page.text


def test_history_shows_what_changed(world: World) -> None:
    world.publish_version(landlord(version=2, rent=800_000_000))
    with new_client(world) as client:
        sign_in(client, world, ALICE)
        page = client.get(f"/cabinet/returns/{YEAR}/history")
        assert "version 2" in page.text and "rental/LEASE-1 r1-&gt;r2" in page.text
        assert "8,000,000.00" in page.text and "10,000,000.00" in page.text


def test_refund_and_language_switch(world: World) -> None:
    with new_client(world) as client:
        sign_in(client, world, BOB)  # prefers Russian; the catalogue decides the words
        page = client.get(f"/cabinet/returns/{YEAR}")
        assert 'lang="ru"' in page.text
        for lang in i18n.LANGUAGES:
            r = client.get(f"/lang/{lang}?next=/cabinet/returns/{YEAR}")
            assert f'<html lang="{i18n.HTML_LANG[lang]}">' in r.text
            assert i18n.Translator(lang)("return.refund") in r.text


def test_telegram_link_shows_a_qr_code(world: World) -> None:
    with new_client(world) as client:
        sign_in(client, world, ALICE)
        page = client.get("/cabinet/telegram")
        r = client.post("/cabinet/telegram/link", data={"csrf_token": csrf_of(page.text)})
        assert "<svg" in r.text and "https://t.me/proactax_bot?start=" in r.text


def test_every_taxpayer_text_is_in_every_language() -> None:
    english = i18n.catalogue("en")
    for lang in i18n.LANGUAGES:
        texts = i18n.catalogue(lang)
        missing = [k for k in english if not k.startswith("staff.") and k not in texts]
        assert missing == [], (lang, missing)
        for key, text in texts.items():
            assert re.findall(r"{(\w+)}", text) == re.findall(r"{(\w+)}", english[key]), key
