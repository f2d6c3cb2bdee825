"""Legal references, structured: the ``legal_reference`` of a returns.v1 line parsed into
citations (code, article, part) so that every channel can say them in the reader's
language (``contracts.legal_text.render``). The wire keeps the English text (CONTRACT.md).

Grammar (what ``tax.LINE_SPECS`` writes), citations joined by ", " or " / ":
``Tax Code Art 378(16)``, ``Tax Code Arts 371-374``, ``Tax Code Arts 375, 393`` (a bare
number: another article of the same code), ``(23)`` (another part of the same article),
``O'RQ-812`` (a law), ``PQ-90`` (a presidential resolution), ``Tax Code amendment of
2022``; then optionally `` (reading)`` (an engine reading) and `` (unverified)``.
"""

from __future__ import annotations

import dataclasses
import re

TAX_CODE = "tax_code"
LAW = "law"
RESOLUTION = "presidential_resolution"

_ARTICLE = re.compile(r"^Tax Code Arts? (\d+)(?:-(\d+))?(?:\((\d+)\))?$")
_BARE_ARTICLE = re.compile(r"^(\d+)(?:-(\d+))?(?:\((\d+)\))?$")
_BARE_PART = re.compile(r"^\((\d+)\)$")
_ACT = re.compile(r"^(O'RQ|PQ)-(\d+)$")
_AMENDMENT = re.compile(r"^Tax Code amendment of (\d{4})$")


@dataclasses.dataclass(frozen=True, slots=True)
class Citation:
    code: str  # TAX_CODE, LAW or RESOLUTION
    article: int | None = None  # Tax Code article (first of a range)
    last: int | None = None  # last article of a range (371-374)
    part: int | None = None  # the numbered part (item) of the article: 378(16)
    act: str = ""  # the act's number: O'RQ-812, PQ-90
    amended_in: int | None = None  # "Tax Code amendment of 2022"


@dataclasses.dataclass(frozen=True, slots=True)
class LegalReference:
    citations: tuple[Citation, ...]
    reading: bool = False  # the engine's reading of the text
    unverified: bool = False  # a value or reading not verified in the Code's text


def parse(text: str) -> LegalReference | None:
    """The structured reference, or None when ``text`` does not follow the grammar."""
    rest, unverified, reading = text.strip(), False, False
    if rest.endswith(" (unverified)"):
        rest, unverified = rest.removesuffix(" (unverified)"), True
    if rest.endswith(" (reading)"):
        rest, reading = rest.removesuffix(" (reading)"), True
    citations: list[Citation] = []
    for token in re.split(r", | / ", rest):
        citation = _citation(token, citations[-1] if citations else None)
        if citation is None:
            return None
        citations.append(citation)
    return LegalReference(tuple(citations), reading, unverified) if citations else None


def _citation(token: str, previous: Citation | None) -> Citation | None:
    if m := _ARTICLE.match(token):
        return Citation(TAX_CODE, int(m[1]), _int(m[2]), _int(m[3]))
    if m := _ACT.match(token):
        return Citation(LAW if m[1] == "O'RQ" else RESOLUTION, act=token)
    if m := _AMENDMENT.match(token):
        return Citation(TAX_CODE, amended_in=int(m[1]))
    if previous is None or previous.code != TAX_CODE or previous.article is None:
        return None
    if m := _BARE_PART.match(token):
        return Citation(TAX_CODE, previous.article, part=int(m[1]))
    if m := _BARE_ARTICLE.match(token):
        return Citation(TAX_CODE, int(m[1]), _int(m[2]), _int(m[3]))
    return None


def _int(text: str | None) -> int | None:
    return None if text is None else int(text)
