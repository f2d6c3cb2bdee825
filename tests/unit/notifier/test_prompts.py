"""Prompts: every notice kind renders in every language, short and plain, with the amount,
the deadline and the verification code, and never a PINFL."""

from __future__ import annotations

import re

import pytest
import yaml

from contracts.returns_v1 import disputable
from notifier import codes
from notifier.prompts import LANGUAGES, NOTICE_KINDS, REASONS, prompts
from notifier.templates import __file__ as templates_init
from tests.unit.notifier.factories import PINFL, notice, return_value

# The details the lifecycle (lifecycle/machine.py) puts on its notices.
DETAILS = {
    "first_notice": {"payment_deadline": "2027-06-01", "declaration_required": True},
    "amendment": {
        "changed_lines": 2,
        "changes": "employment.gross[201234567]: 100000000 -> 120000000; dividend.gross: - -> 5000",
        "payment_deadline": "2027-06-01",
    },
    "payment_receipt": {"receipt_id": "pay-0123456789abcdef", "amount_tiyin": 720_000_000},
    "dispute_update": {"event": "confirmed", "registry": "payroll"},
    "payment_due_reminder": {"payment_declined": True, "receipt_id": "pay-1"},
    "overdue": {"unpaid_tiyin": 720_000_000, "interest_tiyin": 1_234_500},
}


def catalogue(lang: str) -> dict[str, str]:
    from pathlib import Path

    path = Path(templates_init).parent / lang / "messages.yaml"
    return yaml.safe_load(path.read_text("utf-8"))


def test_every_language_has_the_same_texts() -> None:
    keys = {lang: set(catalogue(lang)) for lang in LANGUAGES}
    reference = keys["en"]
    for lang, have in keys.items():
        assert have == reference, f"{lang}: missing {reference - have}, extra {have - reference}"


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("kind", NOTICE_KINDS)
def test_every_notice_renders_short_and_plain(lang: str, kind: str) -> None:
    value = notice(kind, details=DETAILS.get(kind, {}))
    code = codes.verification_code(b"k", PINFL, value["notice_id"])
    rendered = prompts().notice(value, lang, code, "https://my.soliq.uz")
    assert code in rendered.body and "https://my.soliq.uz" in rendered.body
    assert PINFL not in rendered.body and PINFL not in rendered.title
    assert "{" not in rendered.body and "<" not in rendered.body
    assert len(rendered.body) < 700 and len(rendered.title) <= 200
    if kind in ("first_notice", "reminder", "payment_due_reminder"):
        assert "7" in rendered.body and "200" in rendered.body  # 7 200 000 so'm
        assert "2027" in rendered.body  # the deadline


def test_amounts_and_dates_read_naturally() -> None:
    p = prompts()
    assert p.money(720_000_050, "en") == "7,200,000.50\u00a0so'm"
    assert p.money(-720_000_000, "ru") == "-7\u00a0200\u00a0000\u00a0сум"
    assert p.date("2027-04-01", "ru") == "1 апреля 2027 г."
    assert p.date("2027-04-01", "uz-Latn") == "2027-yil 1-aprel"
    assert p.date("2027-06-01", "en") == "1 June 2027"


def test_refund_and_nothing_due_say_so() -> None:
    p = prompts()
    refund = p.notice(notice(balance_tiyin=-5_000_00), "en", "AAAA-BBBB", "u").body
    assert "Refund due to you: 5,000" in refund
    assert "Nothing to pay" in p.notice(notice(balance_tiyin=0), "en", "AAAA-BBBB", "u").body


def test_karakalpak_has_its_own_texts_and_an_unknown_language_reads_the_default() -> None:
    p = prompts()
    assert p.text("kaa", "button.agree") == "Kelisemen"
    assert p.text("kaa", "button.agree") != p.text("uz-Latn", "button.agree")
    assert p.date("2027-04-01", "kaa") == "2027-jıl 1-aprel"
    assert p.money(720_000_000, "kaa") == "7\u00a0200\u00a0000\u00a0swm"
    assert p.text("xx", "button.agree") == p.text("uz-Latn", "button.agree")  # unknown: default


@pytest.mark.parametrize("lang", LANGUAGES)
def test_details_list_every_line_with_sources(lang: str) -> None:
    value = return_value()
    text = prompts().details(value, lang)
    assert len(text) <= 4096
    for source in (value["lines"][0]["sources"][0], value["lines"][3]["sources"][0]):
        assert source["record_id"] in text
    assert value["pinfl"] not in text
    assert text.count("\n") >= len(value["lines"])


@pytest.mark.parametrize("lang", LANGUAGES)
def test_bot_texts_render(lang: str) -> None:
    p = prompts()
    for key in [k for k in catalogue("en") if k.startswith(("bot.", "button.", "answer."))]:
        text = p.text(
            lang,
            key,
            url="u",
            year=2026,
            version=1,
            amount="1",
            line="L",
            done="D",
            skip="S",
            code="123456",
            minutes=5,
            date="d",
        )
        assert text and "{" not in text
    for reason in REASONS:
        assert p.text(lang, f"reason.{reason}")


def test_only_registry_lines_can_be_disputed() -> None:
    value = return_value()
    codes_ = [line["code"] for line in value["lines"] if disputable(line["code"])]
    assert codes_ and all(not re.match(r"(base|tax|credit|result)\.", c) for c in codes_)
    assert "employment.gross" in codes_ and "result.payable" not in codes_


def test_verification_codes_are_stable_and_differ_per_notice() -> None:
    a = codes.verification_code(b"k", PINFL, "n-1")
    assert a == codes.verification_code(b"k", PINFL, "n-1")
    assert a != codes.verification_code(b"k", PINFL, "n-2")
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}", a)
    assert codes.normalise_code(a.lower().replace("-", " ")) == a


def test_the_lifecycle_details_become_plain_sentences() -> None:
    p = prompts()
    amendment = p.notice(notice("amendment", details=DETAILS["amendment"]), "en", "C", "u").body
    assert "Employment income (201234567): 1,000,000\u00a0so'm → 1,200,000\u00a0so'm" in amendment
    assert "Dividends: – → 50\u00a0so'm" in amendment
    first = p.notice(notice(details=DETAILS["first_notice"]), "en", "C", "u").body
    assert "Payment is due by 1 June 2027." in first
    receipt = p.notice(
        notice("payment_receipt", balance_tiyin=0, details=DETAILS["payment_receipt"]),
        "en",
        "C",
        "u",
    )
    assert "Paid: 7,200,000\u00a0so'm" in receipt.body and "pay-0123456789abcdef" in receipt.body
    overdue = p.notice(notice("overdue", details=DETAILS["overdue"]), "ru", "C", "u").body
    assert "12\u00a0345" in overdue
