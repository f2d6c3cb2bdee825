"""Legal references: structured (code, article, part) and said in the reader's language in
every channel (issue 15, item 4); the late-refund interest in the refund notice."""

from __future__ import annotations

import pytest

from contracts.legal import LAW, RESOLUTION, TAX_CODE, Citation, LegalReference, parse
from contracts.legal_text import render
from notifier.prompts import prompts
from tax import LINE_SPECS
from tests.unit.notifier.factories import notice, return_value

LANGS = ("uz-Latn", "uz-Cyrl", "ru", "en", "kaa")


@pytest.mark.parametrize("reference", sorted({s.reference for s in LINE_SPECS.values()}))
def test_every_reference_the_engine_writes_is_structured(reference: str) -> None:
    parsed = parse(reference)
    assert parsed is not None and parsed.citations
    assert parse(reference + " (unverified)") == LegalReference(
        parsed.citations, parsed.reading, True
    )


def test_the_structure_of_references() -> None:
    assert parse("Tax Code Art 378(16), (23)") == LegalReference(
        (Citation(TAX_CODE, 378, part=16), Citation(TAX_CODE, 378, part=23))
    )
    assert parse("Tax Code Arts 371-374") == LegalReference((Citation(TAX_CODE, 371, 374),))
    assert parse("Tax Code Arts 375, 393 (unverified)") == LegalReference(
        (Citation(TAX_CODE, 375), Citation(TAX_CODE, 393)), unverified=True
    )
    assert parse("Tax Code Art 378(16), O'RQ-812") == LegalReference(
        (Citation(TAX_CODE, 378, part=16), Citation(LAW, act="O'RQ-812"))
    )
    assert parse("PQ-90 / Tax Code amendment of 2022") == LegalReference(
        (Citation(RESOLUTION, act="PQ-90"), Citation(TAX_CODE, amended_in=2022))
    )
    assert parse("Tax Code Art 378(7) (reading)") == LegalReference(
        (Citation(TAX_CODE, 378, part=7),), reading=True
    )
    assert parse("Civil Code Art 1") is None


@pytest.mark.parametrize(
    ("lang", "said"),
    [
        ("uz-Latn", "Soliq kodeksi 378-modda 16-band (tasdiqlanmagan)"),
        ("uz-Cyrl", "Солиқ кодекси 378-модда 16-банд (тасдиқланмаган)"),
        ("ru", "Налоговый кодекс, ст. 378 п. 16 (не подтверждено)"),
        ("en", "Tax Code Art 378(16) (unverified)"),
        ("kaa", "Salıq kodeksi 378-statya 16-bánt (tastıyıqlanbaǵan)"),
    ],
)
def test_a_reference_is_said_in_the_readers_language(lang: str, said: str) -> None:
    assert render("Tax Code Art 378(16) (unverified)", lang) == said


def test_a_reference_outside_the_grammar_is_shown_as_it_came() -> None:
    assert render("Civil Code Art 1", "ru") == "Civil Code Art 1"


@pytest.mark.parametrize("lang", ("uz-Latn", "uz-Cyrl", "ru", "kaa"))
def test_the_bots_details_say_the_law_in_the_readers_language(lang: str) -> None:
    text = prompts().details(return_value(), lang)
    assert "Tax Code" not in text and "Art " not in text


def test_the_portal_lines_say_the_law_in_the_readers_language() -> None:
    from portal.web.cabinet import lines_of

    lines = lines_of(return_value(), "uz-Latn")
    assert lines and all("Tax Code" not in line["legal_reference"] for line in lines)
    assert any("Soliq kodeksi" in line["legal_reference"] for line in lines)


@pytest.mark.parametrize("lang", LANGS)
def test_a_refund_notice_with_late_refund_interest_says_so(lang: str) -> None:
    p = prompts()
    details = {"receipt_id": "pay-1", "amount_tiyin": 13_800, "interest_tiyin": 13_800}
    late = p.notice(notice("refund_notice", details=details), lang, "ABCD-EFGH", "https://x")
    on_time = p.notice(
        notice("refund_notice", details={**details, "interest_tiyin": 0}), lang, "ABCD-EFGH",
        "https://x",
    )  # fmt: skip
    assert late.body != on_time.body and "138" in late.body
