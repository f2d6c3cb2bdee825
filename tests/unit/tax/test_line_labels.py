"""Every label key the engine can emit has a text in all five languages."""

from __future__ import annotations

import pytest

from contracts.line_labels import LANGUAGES, MissingLabel, labels, line_label
from tax import LINE_SPECS


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_line_label_exists(lang: str) -> None:
    texts = labels(lang)
    missing = [spec.code for spec in LINE_SPECS.values() if spec.code not in texts]
    assert not missing, f"{lang} lacks {missing}"


def test_the_five_languages_have_the_same_keys() -> None:
    keys = {lang: set(labels(lang)) for lang in LANGUAGES}
    assert len({frozenset(k) for k in keys.values()}) == 1, keys
    assert set(LANGUAGES) == {"uz-Latn", "uz-Cyrl", "ru", "en", "kaa"}


def test_texts_differ_between_languages() -> None:
    texts = {lang: line_label("result.refund", lang) for lang in LANGUAGES}
    assert len(set(texts.values())) == len(LANGUAGES)


def test_missing_key_or_language_is_a_key_error() -> None:
    with pytest.raises(MissingLabel):
        line_label("no.such.line", "en")
    with pytest.raises(KeyError):
        line_label("result.refund", "fr")


def test_karakalpak_has_its_own_labels() -> None:
    assert line_label("result.refund", "kaa") == "Qaytarılatuǵın summa"
