"""Karakalpak (``kaa``) in the portal (issue 15, item 5): a taxpayer whose population
record says ``kaa`` reads every cabinet page, the legal references and the PDF documents in
Karakalpak; the language switcher offers it; a browser asking for ``kaa`` gets it."""

from __future__ import annotations

import dataclasses
import io
import re

from pypdf import PdfReader

from portal.web import i18n
from storage.people import PeopleRepository, PersonUpdate
from tests.unit.portal_web.conftest import ALICE, YEAR, World, csrf_of, new_client, sign_in

PAGES = (
    "/cabinet",
    f"/cabinet/returns/{YEAR}",
    f"/cabinet/returns/{YEAR}/lines/0?version=1",
    f"/cabinet/returns/{YEAR}/disagree",
    f"/cabinet/returns/{YEAR}/history",
    "/cabinet/inbox",
    "/cabinet/telegram",
)


def _foreign_texts(lang: str) -> list[str]:
    """Whole sentences of another language's catalogue that Karakalpak says differently
    (long enough not to be a name such as "Telegram" or "OneID")."""
    kaa = i18n.catalogue("kaa")
    return [
        text
        for key, text in i18n.catalogue(lang).items()
        if not key.startswith("staff.") and "{" not in text and len(text) >= 15
        if text != kaa[key]
    ]


def _reads_karakalpak(html: str, path: str) -> None:
    assert '<html lang="kaa">' in html, path
    assert 'href="/lang/kaa?' in html and ">Qaraqalpaqsha</a>" in html, path
    assert re.search(r'lang="kaa" hreflang="kaa" aria-current="true"', html), path
    for lang in ("en", "uz-Latn"):
        leftovers = [t for t in _foreign_texts(lang) if t in html]
        assert leftovers == [], (path, lang, leftovers)


def _prefers_karakalpak(world: World, pinfl: str) -> None:
    PeopleRepository(world.sessions).apply(
        [PersonUpdate(pinfl, 2, {"full_name": "Ayjamal Seytmuratova", "birth_date": "1980-05-01",
                                 "sex": "F", "region_code": "KAR", "phone": "+998901234567",
                                 "preferred_language": "kaa"})],
        world.clock.now(),
    )  # fmt: skip


def test_a_karakalpak_taxpayer_reads_every_cabinet_page_in_karakalpak(world: World) -> None:
    _prefers_karakalpak(world, ALICE)
    with new_client(world) as client:
        sign_in(client, world, ALICE)
        for path in PAGES:
            page = client.get(path)
            assert page.status_code == 200, path
            _reads_karakalpak(page.text, path)
        page = client.get(f"/cabinet/returns/{YEAR}")
        assert "Dáramat salıǵı deklaraciyası" in page.text or "dáramat salıǵı" in page.text
        assert "Fizikalıq shaxs ijarashıdan ijara haqı" in page.text  # the line label
        assert "Huqıqıy tiykar" in page.text and "Salıq kodeksi" in page.text
        assert "Tax Code" not in page.text and "Soliq kodeksi" not in page.text
        assert "1\u00a0200\u00a0000,00" in page.text or "1 200 000,00" in page.text


def test_a_karakalpak_receipt_and_its_pdf(world: World) -> None:
    world.settings = dataclasses.replace(world.settings, development=True)  # a documents key
    _prefers_karakalpak(world, ALICE)
    with new_client(world) as client:
        sign_in(client, world, ALICE)
        page = client.get(f"/cabinet/returns/{YEAR}")
        client.post(
            f"/cabinet/returns/{YEAR}/agree",
            data={"version": "1", "csrf_token": csrf_of(page.text)},
        )
        world.apply_sent_decisions()
        world.settle_all()
        payment = client.get(f"/cabinet/returns/{YEAR}/payment")
        _reads_karakalpak(payment.text, "payment")
        assert "Qalay ótti?" in payment.text  # the survey
        receipt_url = re.search(r'href="(/cabinet/receipts/[^"?]+)"', payment.text).group(1)
        receipt = client.get(receipt_url)
        _reads_karakalpak(receipt.text, receipt_url)
        pdf = client.get(f"{receipt_url}/document.pdf")
        text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
        assert "Kvitanciya" in text and "Salıq tólewshi" in text and "1 200 000,00" in text
        version_pdf = client.get(f"/cabinet/returns/{YEAR}/versions/1/document.pdf")
        text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(version_pdf.content)).pages)
        assert "Fizikalıq shaxs ijarashıdan ijara haqı" in text.replace("\n", " ")
        assert "Salıq kodeksi" in text.replace("\n", " ")


def test_a_browser_asking_for_karakalpak_gets_it() -> None:
    assert i18n.from_accept_language("kaa, uz;q=0.8") == "kaa"
    assert i18n.from_accept_language("kaa-Latn-UZ") == "kaa"
    assert i18n.from_accept_language("uz, kaa;q=0.5") == "uz-Latn"
    assert i18n.resolve("kaa") == "kaa" and i18n.resolve("xx") == i18n.DEFAULT


def test_the_home_page_in_karakalpak_for_a_visitor(world: World) -> None:
    with new_client(world) as client:
        home = client.get("/", headers={"accept-language": "kaa"})
        _reads_karakalpak(home.text, "/")
        assert "JShShIR menen kiriw" in home.text
        sign_in_page = client.get("/sign-in", headers={"accept-language": "kaa"})
        _reads_karakalpak(sign_in_page.text, "/sign-in")
