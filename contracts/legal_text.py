"""Legal references in the reader's language: the structured reference
(``contracts.legal``) said with the words of ``contracts/texts/lines.<lang>.yaml``
(``law.*``). A reference outside the grammar is shown as it came (English), never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping

from contracts.legal import LAW, RESOLUTION, Citation, parse
from contracts.line_labels import MissingLabel, labels


def render(text: str, lang: str) -> str:
    """``Tax Code Art 378(16) (unverified)`` -> ``Soliq kodeksi 378-modda 16-band
    (tasdiqlanmagan)`` in uz-Latn; the text itself when it cannot be parsed."""
    reference = parse(text)
    if reference is None:
        return text
    try:
        words = labels(lang)
    except MissingLabel:
        return text
    parts: list[str] = []
    code_said = False
    for citation in reference.citations:
        said = _citation(citation, words, with_code=not code_said)
        code_said = citation.article is not None or (code_said and citation.code == "tax_code")
        parts.append(said)
    out = ", ".join(parts)
    if reference.reading:
        out += " " + words["law.reading"]
    if reference.unverified:
        out += " " + words["law.unverified"]
    return out


def _citation(c: Citation, words: Mapping[str, str], with_code: bool) -> str:
    if c.code == LAW:
        return words["law.law"].format(act=c.act)
    if c.code == RESOLUTION:
        return words["law.resolution"].format(act=c.act)
    if c.amended_in is not None:
        return words["law.amendment"].format(year=c.amended_in)
    if c.last is not None:
        said = words["law.range"].format(n=c.article, m=c.last)
    elif c.part is not None:
        said = words["law.article_part"].format(n=c.article, p=c.part)
    else:
        said = words["law.article"].format(n=c.article)
    return (
        words["law.cited"].format(code=words["law.tax_code"], articles=said) if with_code else said
    )
