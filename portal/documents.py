"""Documents that prove themselves: each return version and each payment or refund
receipt as a PDF (fpdf2, PDF/A-2u, DejaVu fonts for Uzbek Latin and Cyrillic, Russian and
Karakalpak) in the taxpayer's language, with a QR code to the public verification page.

1. ``fields_of_*`` take the document's canonical fields from the live records;
2. ``signature(key, code, fields)``: HMAC-SHA256 over the code, the issue date and the
   canonical JSON (sorted keys), base32, 32 characters: it goes into the QR URL;
3. ``verify(...)`` rebuilds the fields from the records as they are now and compares the
   signature: a forged URL, a changed record or an unknown code is "not genuine";
4. the verification page shows only genuine / not, the issue date and the amount.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

SIGNATURE_CHARS = 32


@dataclasses.dataclass(frozen=True)
class Fields:
    """What a document states and a verification checks (no name, no PINFL)."""

    kind: str  # return | receipt
    amount_tiyin: int
    canonical: dict[str, Any]


def fields_of_receipt(receipt: Any) -> Fields:
    settled = receipt.settled_at.isoformat() if receipt.settled_at is not None else ""
    canonical = {
        "kind": "receipt",
        "receipt_id": receipt.receipt_id,
        "type": receipt.kind,
        "tax_year": receipt.tax_year,
        "version": receipt.version,
        "amount_tiyin": receipt.amount_tiyin,
        "interest_tiyin": receipt.interest_tiyin,
        "settled_at": settled,
        "reproducibility_hash": receipt.reproducibility_hash,
    }
    return Fields("receipt", int(receipt.amount_tiyin), canonical)


def fields_of_return(row: Any) -> Fields:
    totals = row.payload.get("totals", {})
    canonical = {
        "kind": "return",
        "return_id": row.return_id,
        "tax_year": row.tax_year,
        "version": row.version,
        "computed_at": row.computed_at.isoformat()
        if isinstance(row.computed_at, dt.datetime)
        else str(row.computed_at),
        "totals": {k: int(v) for k, v in sorted(totals.items()) if isinstance(v, int)},
        "lines": [[line["code"], int(line["amount_tiyin"])] for line in row.payload["lines"]],
        "reproducibility_hash": row.reproducibility_hash,
    }
    return Fields("return", int(row.balance_tiyin), canonical)


def signature(key: bytes, code: str, issued_at: dt.datetime, fields: Fields) -> str:
    message = orjson.dumps(
        {"code": code, "issued_at": issued_at.astimezone(dt.UTC).isoformat(), **fields.canonical},
        option=orjson.OPT_SORT_KEYS,
    )
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.b32encode(digest).decode().rstrip("=")[:SIGNATURE_CHARS]


def genuine(key: bytes, code: str, issued_at: dt.datetime, fields: Fields, given: str) -> bool:
    return hmac.compare_digest(signature(key, code, issued_at, fields), given.upper())


@dataclasses.dataclass(frozen=True)
class Row:
    label: str
    value: str


@dataclasses.dataclass
class Document:
    """What the PDF shows, already in the taxpayer's language."""

    lang: str
    title: str
    facts: list[Row]
    table_head: tuple[str, str, str] | None = None
    table: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    verify_url: str = ""
    verify_text: str = ""
    footer: str = ""


def render_pdf(doc: Document, font_dir: str, qr_png: Callable[[str], bytes]) -> bytes:
    from fpdf import FPDF

    # PDF/A-2u: fpdf2 embeds the fonts and adds the sRGB output intent itself.
    pdf = FPDF(format="A4", enforce_compliance="PDFA_2U")
    pdf.set_lang(doc.lang)
    pdf.set_title(doc.title)
    pdf.set_author("State Tax Committee of the Republic of Uzbekistan")
    pdf.set_creation_date(dt.datetime.now(dt.UTC))
    fonts = Path(font_dir)
    pdf.add_font("DejaVu", "", str(fonts / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 15)
    pdf.multi_cell(0, 8, doc.title, new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.ln(2)
    pdf.set_font("DejaVu", "", 10)
    for fact in doc.facts:
        pdf.set_font("DejaVu", "B", 10)
        pdf.cell(62, 6, fact.label)
        pdf.set_font("DejaVu", "", 10)
        pdf.multi_cell(0, 6, fact.value, new_x="LMARGIN", new_y="NEXT", align="L")
    if doc.table_head is not None:
        pdf.ln(3)
        with pdf.table(col_widths=(60, 30, 60), text_align=("LEFT", "RIGHT", "LEFT")) as table:
            head = table.row()
            for cell in doc.table_head:
                head.cell(cell)
            for line in doc.table:
                table_row = table.row()
                for cell in line:
                    table_row.cell(cell)
    pdf.ln(3)
    for note in doc.notes:
        pdf.multi_cell(0, 5, note, new_x="LMARGIN", new_y="NEXT", align="L")
    if doc.verify_url:
        pdf.ln(3)
        y = pdf.get_y()
        if y > 240:
            pdf.add_page()
            y = pdf.get_y()
        pdf.image(io.BytesIO(qr_png(doc.verify_url)), x=pdf.l_margin, y=y, w=32, h=32)
        pdf.set_xy(pdf.l_margin + 36, y)
        pdf.multi_cell(0, 5, doc.verify_text, new_x="LMARGIN", new_y="NEXT", align="L")
        pdf.set_x(pdf.l_margin + 36)
        pdf.set_font("DejaVu", "", 8)
        pdf.multi_cell(0, 4, doc.verify_url, new_x="LMARGIN", new_y="NEXT", align="L")
        pdf.set_y(max(pdf.get_y(), y + 34))
    if doc.footer:
        pdf.set_font("DejaVu", "", 8)
        pdf.multi_cell(0, 4, doc.footer, new_x="LMARGIN", new_y="NEXT", align="L")
    return bytes(pdf.output())


def qr_png(url: str) -> bytes:
    import segno

    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="png", scale=6, border=2)
    return out.getvalue()
