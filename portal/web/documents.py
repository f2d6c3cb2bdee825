"""PDF documents of the cabinet (each return version, each receipt) and the public page
that verifies them (``portal/documents.py`` says how)."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from core.sign_in import documents_key
from portal import documents as docs
from portal.web.cabinet import lines_of
from portal.web.context import Ctx, Page
from portal.web.security import NotFound

router = APIRouter(include_in_schema=False)


def _key(ctx: Ctx) -> bytes:
    key = documents_key(ctx.services.settings)
    if key is None:
        raise NotFound("this portal issues no documents (PROACTAX_DOCUMENTS_KEY)")
    return key


def _version_row(web: Any, pinfl: str, year: int, version: int) -> Any:
    for row in web.returns.versions(pinfl, year):
        if row.pinfl == pinfl and row.version == version:
            return row
    return None


def _issue(ctx: Ctx, pinfl: str, kind: str, ref: str, fields: docs.Fields) -> tuple[str, str]:
    """(the verification URL, the issue date shown) of this document, issued once."""
    web = ctx.services
    issued = web.documents.issue(
        secrets.token_urlsafe(12), pinfl, kind, ref, web.clock.now().astimezone(dt.UTC)
    )
    sig = docs.signature(_key(ctx), issued.code, issued.issued_at, fields)
    return f"{web.settings.portal_url}/verify/{issued.code}?s={sig}", ctx.fmt.when(issued.issued_at)


def _pdf(ctx: Ctx, doc: docs.Document, filename: str) -> Response:
    body = docs.render_pdf(doc, ctx.services.settings.documents_font_dir, docs.qr_png)
    response = Response(body, media_type="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return ctx.finish(response)


def _money(ctx: Ctx, tiyin: int) -> str:
    return f"{ctx.fmt.money(tiyin)} {ctx.t('money.soum')}"


@router.get("/cabinet/returns/{year}/versions/{version}/document.pdf")
async def return_document(year: int, version: int, ctx: Page) -> Response:
    pinfl = ctx.require_taxpayer()
    _key(ctx)
    web = ctx.services
    row = await asyncio.to_thread(_version_row, web, pinfl, year, version)
    if row is None:
        raise NotFound("no such return version")
    person = await asyncio.to_thread(web.people.get, pinfl)
    fields = docs.fields_of_return(row)
    url, issued = await asyncio.to_thread(_issue, ctx, pinfl, "return", f"{year}:{version}", fields)
    t, totals = ctx.t, row.payload.get("totals", {})
    name = person.full_name if person is not None and person.full_name else ""
    doc = docs.Document(
        lang=ctx.lang,
        title=f"{t('return.title', year=year)} — {t('return.version', version=version)}",
        facts=[
            docs.Row(t("receipt.taxpayer"), f"{name}, {pinfl}" if name else pinfl),
            docs.Row(t("return.gross"), _money(ctx, int(totals.get("gross_income_tiyin", 0)))),
            docs.Row(t("return.taxable"), _money(ctx, int(totals.get("taxable_income_tiyin", 0)))),
            docs.Row(t("return.tax"), _money(ctx, int(totals.get("tax_computed_tiyin", 0)))),
            docs.Row(t("return.credited"), _money(ctx, int(totals.get("tax_credited_tiyin", 0)))),
            docs.Row(
                t("return.to_pay") if row.balance_tiyin >= 0 else t("return.refund"),
                _money(ctx, abs(int(row.balance_tiyin))),
            ),
            docs.Row(t("document.issued"), issued),
        ],
        table_head=(t("return.line"), t("return.amount"), t("return.basis")),
        table=[
            (
                line["label"] + (f" — {line['subject']}" if line["subject"] else ""),
                ctx.fmt.money(line["amount_tiyin"]),
                line["legal_reference"],
            )
            for line in lines_of(row.payload, ctx.lang)
        ],
        notes=[t("return.hash", hash=row.reproducibility_hash), t("receipt.hash_help")],
        verify_url=url,
        verify_text=t("document.verify_help"),
        footer=t("site.footer"),
    )
    return _pdf(ctx, doc, f"return-{year}-v{version}.pdf")


@router.get("/cabinet/receipts/{receipt_id}/document.pdf")
async def receipt_document(receipt_id: str, ctx: Page) -> Response:
    pinfl = ctx.require_taxpayer()
    _key(ctx)
    web = ctx.services
    receipt = await asyncio.to_thread(web.lifecycle.receipt, pinfl, receipt_id)
    if receipt is None:
        raise NotFound("no such receipt")
    person = await asyncio.to_thread(web.people.get, pinfl)
    fields = docs.fields_of_receipt(receipt)
    url, issued = await asyncio.to_thread(_issue, ctx, pinfl, "receipt", receipt_id, fields)
    t = ctx.t
    name = person.full_name if person is not None and person.full_name else ""
    facts = [
        docs.Row(t("receipt.number"), receipt.receipt_id),
        docs.Row(t("receipt.taxpayer"), f"{name}, {pinfl}" if name else pinfl),
        docs.Row(
            t("receipt.year"),
            f"{receipt.tax_year} · {t('return.version', version=receipt.version)}",
        ),
        docs.Row(t("receipt.amount"), _money(ctx, receipt.amount_tiyin)),
    ]
    if receipt.interest_tiyin:
        facts.append(docs.Row(t("receipt.interest"), _money(ctx, receipt.interest_tiyin)))
    facts.append(docs.Row(t("receipt.settled"), ctx.fmt.when(receipt.settled_at)))
    if receipt.provider_ref:
        facts.append(docs.Row(t("receipt.provider_ref"), receipt.provider_ref))
    facts.append(docs.Row(t("document.issued"), issued))
    doc = docs.Document(
        lang=ctx.lang,
        title=f"{t('receipt.title')} — {t('receipt.' + receipt.kind)}",
        facts=facts,
        notes=[f"{t('receipt.hash')}: {receipt.reproducibility_hash}", t("receipt.hash_help")],
        verify_url=url,
        verify_text=t("document.verify_help"),
        footer=t("site.footer"),
    )
    return _pdf(ctx, doc, f"receipt-{receipt.receipt_id}.pdf")


def _check(web: Any, key: bytes, code: str, sig: str) -> tuple[bool, Any, int | None]:
    """(genuine, issued_at, amount) from the records as they are now."""
    issued = web.documents.get(code)
    if issued is None:
        return False, None, None
    fields: docs.Fields | None = None
    if issued.kind == "receipt":
        receipt = web.lifecycle.receipt(issued.pinfl, issued.ref)
        fields = docs.fields_of_receipt(receipt) if receipt is not None else None
    elif issued.kind == "return":
        year, version = (int(part) for part in issued.ref.split(":"))
        row = _version_row(web, issued.pinfl, year, version)
        fields = docs.fields_of_return(row) if row is not None else None
    if fields is None or not docs.genuine(key, code, issued.issued_at, fields, sig):
        return False, None, None
    return True, issued.issued_at, abs(fields.amount_tiyin)


@router.get("/verify/{code}")
async def verify(code: str, ctx: Page) -> Response:
    """Public: genuine or not, the issue date and the amount; nothing about the person."""
    key = _key(ctx)
    sig = ctx.request.query_params.get("s", "")
    ok, issued_at, amount = False, None, None
    if len(code) <= 32 and code.replace("-", "").replace("_", "").isalnum() and sig.isalnum():
        ok, issued_at, amount = await asyncio.to_thread(_check, ctx.services, key, code, sig)
    return ctx.render("verify.html", genuine=ok, issued_at=issued_at, amount=amount)
