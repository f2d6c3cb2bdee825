"""Documents that prove themselves: the PDF of a return version and of a receipt (text
extracted with pypdf carries the figures, the legal reference and the hash, in the
taxpayer's language), and the public verification page behind the QR code: genuine with
the issue date and amount, "not genuine" for a forged signature, a changed record or an
unknown code, and never a name or a PINFL."""

from __future__ import annotations

import dataclasses
import io
import re

from pypdf import PdfReader
from sqlalchemy import update

from storage.lifecycle.tables import LifecyclePayment
from storage.models import ReturnVersion
from tests.unit.portal_web.conftest import ALICE, BOB, YEAR, World, csrf_of, new_client, sign_in

NAMES = ("Alisher", "Karimov", "Barno", "Yusupova")


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _verify_path(text: str) -> str:
    match = re.search(r"https?://[^/\s]+(/verify/[\w-]+\?s=[A-Z2-7]+)", text)
    assert match, text
    return match.group(1)


def _assert_private(html: str, pinfl: str) -> None:
    assert pinfl not in html and pinfl[:3] + "*" not in html and pinfl[-3:] not in html
    for name in NAMES:
        assert name not in html


def _development(world: World) -> World:
    world.settings = dataclasses.replace(world.settings, development=True)
    return world


def test_return_pdf_and_its_verification(world: World) -> None:
    world = _development(world)
    with new_client(world) as client:
        sign_in(client, world, ALICE)
        page = client.get(f"/cabinet/returns/{YEAR}")
        assert f"/cabinet/returns/{YEAR}/versions/1/document.pdf" in page.text
        pdf = client.get(f"/cabinet/returns/{YEAR}/versions/1/document.pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert b"pdfaid:part" in pdf.content  # PDF/A metadata (fpdf2: PDF/A-2u)
        text = _text(pdf.content)
        version = world.returns.latest(ALICE, YEAR)
        assert f"Income tax return {YEAR}" in text and "version 1" in text
        assert "Rent from an individual tenant" in text
        assert "1,200,000.00" in text  # the tax to pay
        assert version.payload["lines"][0]["legal_reference"][:20] in text.replace("\n", " ")
        assert version.reproducibility_hash in text.replace("\n", "")
        assert ALICE in text  # the taxpayer's own document
        # The same document again: the same code and issue date.
        again = _text(client.get(f"/cabinet/returns/{YEAR}/versions/1/document.pdf").content)
        path = _verify_path(text)
        assert _verify_path(again) == path
        assert client.get(f"/cabinet/returns/{YEAR}/versions/9/document.pdf").status_code == 404
    with new_client(world) as anyone:  # the public page: no sign-in
        anyone.get("/lang/en?next=/")
        good = anyone.get(path)
        assert good.status_code == 200 and "This document is genuine." in good.text
        assert "1,200,000.00" in good.text and "10.02.2027" in good.text
        _assert_private(good.text, ALICE)
        forged = path[:-1] + ("A" if path[-1] != "A" else "B")
        assert "This document is not genuine." in anyone.get(forged).text
        unknown = re.sub(r"/verify/[\w-]+", "/verify/nosuchcode", path)
        assert "This document is not genuine." in anyone.get(unknown).text
        assert "This document is not genuine." in anyone.get(path.split("?")[0]).text
        # The record changed after the document was issued: not genuine any more.
        with world.sessions() as session:
            session.execute(
                update(ReturnVersion)
                .where(ReturnVersion.pinfl == ALICE, ReturnVersion.version == 1)
                .values(reproducibility_hash="0" * 64)
            )
            session.commit()
        tampered = anyone.get(path)
        assert "This document is not genuine." in tampered.text
        assert "1,200,000.00" not in tampered.text
        _assert_private(tampered.text, ALICE)


def test_receipt_pdf_in_russian_and_a_tampered_amount(world: World) -> None:
    world = _development(world)
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
        receipt_url = re.search(r'href="(/cabinet/receipts/[^"?]+)"', payment.text).group(1)
        assert f"{receipt_url}/document.pdf" in client.get(receipt_url).text
        client.get(f"/lang/ru?next={receipt_url}")
        text = _text(client.get(f"{receipt_url}/document.pdf").content)
        assert "Квитанция — оплата" in text and "Сумма" in text
        assert "1 200 000,00" in text  # Russian number format
        receipt_id = receipt_url.rsplit("/", 1)[1]
        assert receipt_id in text.replace("\n", "")
        path = _verify_path(text)
        assert client.get("/cabinet/receipts/nope/document.pdf").status_code == 404
    with new_client(world) as other:  # another taxpayer: ALICE's receipt does not exist
        sign_in(other, world, BOB)
        assert other.get(f"{receipt_url}/document.pdf").status_code == 404
    with new_client(world) as anyone:
        assert anyone.get(f"{receipt_url}/document.pdf").url.path == "/sign-in"
        anyone.get("/lang/en?next=/")
        good = anyone.get(path)
        assert "This document is genuine." in good.text and "1,200,000.00" in good.text
        _assert_private(good.text, ALICE)
        with world.sessions() as session:
            session.execute(
                update(LifecyclePayment)
                .where(LifecyclePayment.payment_id == receipt_id)
                .values(amount_tiyin=1)
            )
            session.commit()
        assert "This document is not genuine." in anyone.get(path).text


def test_no_documents_without_a_key_outside_development(world: World) -> None:
    with new_client(world) as browser:  # signed in where the SMS stub keeps live codes
        sign_in(browser, world, BOB)
        cookies = dict(browser.cookies)
    world.settings = dataclasses.replace(
        world.settings, development=False, notifier_secret="n" * 40, documents_key=""
    )
    with new_client(world) as client:  # development off, no PROACTAX_DOCUMENTS_KEY
        client.cookies.update(cookies)
        assert client.get("/cabinet").status_code == 200  # still signed in
        assert client.get(f"/cabinet/returns/{YEAR}/versions/1/document.pdf").status_code == 404
        assert client.get("/verify/abc?s=DEF").status_code == 404
