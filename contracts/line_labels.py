"""Line labels in the taxpayer's language, from ``contracts/texts/lines.<lang>.yaml``.

The tax engine emits label keys (docs/tax-rules.md lists them); the words live here with
the other notifier texts, one file per language (uz-Latn, uz-Cyrl, ru, en, kaa).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib import resources

import yaml

LANGUAGES = ("uz-Latn", "uz-Cyrl", "ru", "en", "kaa")


class MissingLabel(KeyError):
    """No text for this label key in this language (or no such language)."""


def line_label(label_key: str, lang: str) -> str:
    """The text of ``label_key`` in ``lang``; ``MissingLabel`` if there is none."""
    texts = labels(lang)
    try:
        return texts[label_key]
    except KeyError:
        raise MissingLabel(f"no {lang} text for label key {label_key!r}") from None


def labels(lang: str) -> Mapping[str, str]:
    """Every label of one language."""
    if lang not in LANGUAGES:
        raise MissingLabel(f"no texts for language {lang!r} (have {', '.join(LANGUAGES)})")
    return _load(lang)


@functools.cache
def _load(lang: str) -> Mapping[str, str]:
    text = (resources.files("contracts.texts") / f"lines.{lang}.yaml").read_text("utf-8")
    loaded = yaml.safe_load(text)
    if not isinstance(loaded, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in loaded.items()
    ):
        raise ValueError(f"lines.{lang}.yaml must map label keys to non-empty texts")
    return dict(loaded)
