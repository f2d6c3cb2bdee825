"""The five languages (uz-Latn, uz-Cyrl, ru, en, kaa) are the same set everywhere the code
lists languages, and every taxpayer-facing text that exists in English exists in each of
them with the same placeholders: the notifier's short texts and ``*.j2`` templates, the
line labels and legal-reference words, and the portal's catalogue. Karakalpak is written in
its Latin alphabet and says its own words, not the Uzbek ones."""

from __future__ import annotations

import re
import typing
from importlib import resources

import pytest
import yaml

from contracts import line_labels as labels
from contracts.records import PopulationData
from devtools.registries_mock import population
from notifier import prompts
from portal.web import i18n
from proactax.commands import tax_explain

FIVE = {"uz-Latn", "uz-Cyrl", "ru", "en", "kaa"}
CYRILLIC = re.compile(r"[\u0400-\u04ff]")
KARAKALPAK_LETTERS = set("áǵıńóú")
# Jinja2 ``{{ name }}`` / ``{% for x in name %}`` and str.format ``{name}`` placeholders.
JINJA = re.compile(r"{{\s*([\w.]+)|{%\s*(?:if|for \w+ in)\s+([\w.]+)")
FORMAT = re.compile(r"{(\w+)}")
SAME_IN_BOTH = {"portal:receipt.provider_ref"}  # "Bank referensi": one loanword in both
PLACEHOLDER = re.compile(r"{{[^}]*}}|{[^}]*}")


def _yaml(package: str, *parts: str) -> dict[str, str]:
    path = resources.files(package).joinpath(*parts)
    return dict(yaml.safe_load(path.read_text("utf-8")))


def _messages(lang: str) -> dict[str, str]:
    return _yaml("notifier.templates", lang, "messages.yaml")


def _lines(lang: str) -> dict[str, str]:
    return _yaml("contracts.texts", f"lines.{lang}.yaml")


def _templates(lang: str) -> dict[str, str]:
    folder = resources.files("notifier.templates").joinpath(lang)
    return {f.name: f.read_text("utf-8") for f in folder.iterdir() if f.name.endswith(".j2")}


def _names(pattern: re.Pattern[str], text: str) -> set[str]:
    return (
        {a or b for a, b in pattern.findall(text)}
        if pattern is JINJA
        else set(pattern.findall(text))
    )


def test_every_list_of_languages_is_the_same_five() -> None:
    literal = typing.get_type_hints(PopulationData)["preferred_language"]
    for listed in (
        prompts.LANGUAGES,
        labels.LANGUAGES,
        i18n.LANGUAGES,
        tuple(i18n.NAMES),
        tuple(i18n.HTML_LANG),
        tax_explain.LANGS,
        population.LANGUAGES,
        typing.get_args(literal),
    ):
        assert set(listed) == FIVE, listed


@pytest.mark.parametrize("lang", sorted(FIVE - {"en"}))
def test_every_english_text_exists_in_every_language(lang: str) -> None:
    for what, english, theirs, pattern in (
        ("messages.yaml", _messages("en"), _messages(lang), JINJA),
        ("*.j2", _templates("en"), _templates(lang), JINJA),
        ("lines.yaml", _lines("en"), _lines(lang), FORMAT),
        ("portal", dict(i18n.catalogue("en")), dict(i18n.catalogue(lang)), FORMAT),
    ):
        if what == "portal" and lang != "kaa":
            english = {k: v for k, v in english.items() if not k.startswith("staff.")}
        missing = sorted(set(english) - set(theirs))
        assert missing == [], f"{lang} {what} lacks {missing}"
        extra = sorted(set(theirs) - set(english))
        assert extra == [], f"{lang} {what} has keys English lacks: {extra}"
        for key, text in english.items():
            assert _names(pattern, theirs[key]) == _names(pattern, text), (lang, what, key)


def _karakalpak_texts() -> dict[str, str]:
    texts = {f"messages:{k}": v for k, v in _messages("kaa").items()}
    texts |= {f"template:{k}": v for k, v in _templates("kaa").items()}
    texts |= {f"lines:{k}": v for k, v in _lines("kaa").items()}
    texts |= {f"portal:{k}": v for k, v in i18n.catalogue("kaa").items()}
    return texts


def test_karakalpak_is_written_in_its_latin_alphabet() -> None:
    texts = _karakalpak_texts()
    cyrillic = [key for key, text in texts.items() if CYRILLIC.search(text)]
    assert cyrillic == [], cyrillic
    with_letters = [key for key, text in texts.items() if KARAKALPAK_LETTERS & set(text)]
    assert len(with_letters) > len(texts) / 2  # á, ǵ, ı, ń, ó, ú: not Uzbek spelling


def test_karakalpak_says_its_own_words_not_the_uzbek_ones() -> None:
    uzbek = {f"messages:{k}": v for k, v in _messages("uz-Latn").items()}
    uzbek |= {f"lines:{k}": v for k, v in _lines("uz-Latn").items()}
    uzbek |= {f"portal:{k}": v for k, v in i18n.catalogue("uz-Latn").items()}
    copied = [
        key
        for key, text in _karakalpak_texts().items()
        if uzbek.get(key) == text and len(PLACEHOLDER.sub("", text).strip()) >= 12
        if key not in SAME_IN_BOTH
    ]
    assert copied == [], copied
