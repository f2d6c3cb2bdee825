"""The Telegram deep link as a QR code, inline SVG (segno: pure Python, no images on disk)."""

from __future__ import annotations

import io

import segno
from markupsafe import Markup


def svg(url: str, title: str) -> Markup:
    code = segno.make(url, error="m")
    out = io.BytesIO()
    code.save(
        out,
        kind="svg",
        scale=6,
        border=4,
        dark="#000000",
        light="#ffffff",
        xmldecl=False,
        svgns=True,
        title=title,
        svgclass="qr",
        lineclass=None,
    )
    return Markup(out.getvalue().decode("utf-8"))  # noqa: S704 - segno's own markup; title escaped by segno
