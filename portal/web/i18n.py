"""The portal's texts: one catalogue per language in ``portal/locales/<lang>.yaml``
(flat ``key: text`` with ``{name}`` placeholders). Every taxpayer-facing key is in all five
languages (uz-Latn, uz-Cyrl, ru, en, kaa; a unit test checks); staff pages (keys
``staff.*``) may fall back to English.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib import resources
from typing import Any

import yaml

LANGUAGES = ("uz-Latn", "uz-Cyrl", "ru", "en", "kaa")
DEFAULT = "uz-Latn"
FALLBACK = "en"
NAMES = {
    "uz-Latn": "O‘zbekcha",
    "uz-Cyrl": "Ўзбекча",
    "ru": "Русский",
    "en": "English",
    "kaa": "Qaraqalpaqsha",
}
HTML_LANG = {"uz-Latn": "uz-Latn", "uz-Cyrl": "uz-Cyrl", "ru": "ru", "en": "en", "kaa": "kaa"}


@functools.cache
def catalogue(lang: str) -> Mapping[str, str]:
    text = (resources.files("portal") / "locales" / f"{lang}.yaml").read_text("utf-8")
    loaded = yaml.safe_load(text) or {}
    if not isinstance(loaded, dict):
        raise ValueError(f"portal/locales/{lang}.yaml must be a mapping")
    return {str(k): str(v) for k, v in loaded.items()}


def resolve(lang: str | None) -> str:
    """A supported language for a stored preference (anything else: the default)."""
    if lang in LANGUAGES:
        return lang
    return DEFAULT


def from_accept_language(header: str | None) -> str | None:
    """The first supported language in an Accept-Language header, if any."""
    if not header:
        return None
    for part in header.split(","):
        tag = part.split(";")[0].strip()
        low = tag.lower()
        if low.startswith("kaa"):
            return "kaa"
        if low.startswith("uz-cyrl"):
            return "uz-Cyrl"
        if low.startswith("uz"):
            return "uz-Latn"
        if low.startswith("ru"):
            return "ru"
        if low.startswith("en"):
            return "en"
    return None


class Translator:
    def __init__(self, lang: str) -> None:
        self.lang = resolve(lang)
        self._texts = catalogue(self.lang)
        self._fallback = catalogue(FALLBACK)

    def __call__(self, key: str, /, **values: Any) -> str:
        text = self._texts.get(key) or self._fallback.get(key)
        if text is None:
            return key
        return text.format(**values) if values else text

    def has(self, key: str) -> bool:
        return key in self._texts or key in self._fallback
