"""Channel-neutral prompts: every taxpayer-facing text is a Jinja2 template under
``notifier/templates/<language>/`` (``messages.yaml`` for short texts, ``*.j2`` for the
longer ones). Plain text only: Telegram, the portal inbox and SMS show the same words.

Languages: uz-Latn (the default), uz-Cyrl, ru, en and Karakalpak (``kaa``, Latin script).
Every language has every text and template (a unit test checks); there is no fallback
from one language to another.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import jinja2
import yaml

from contracts import records
from contracts.legal_text import render as render_reference
from contracts.line_labels import MissingLabel, labels, line_label
from contracts.returns_v1 import disputable

LANGUAGES = ("uz-Latn", "uz-Cyrl", "ru", "en", "kaa")
DEFAULT_LANGUAGE = "uz-Latn"
NOTICE_KINDS = (
    "first_notice",
    "reminder",
    "amendment",
    "payment_due_reminder",
    "payment_receipt",
    "refund_notice",
    "dispute_update",
    "overdue",
)
REASONS = records.DISPUTE_REASONS
MAX_SOURCES_SHOWN = 3
TELEGRAM_TEXT_LIMIT = 4096
MAX_CHANGES_SHOWN = 3
_CHANGE = re.compile(r"([a-z0-9_.]+)(?:\[([^\]]*)\])?: (-|-?\d+) -> (-|-?\d+)")


def resolve(lang: str | None) -> str:
    """A language we have texts for (unknown or missing: the default)."""
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


@dataclasses.dataclass(frozen=True, slots=True)
class Rendered:
    title: str
    body: str


@dataclasses.dataclass(frozen=True, slots=True)
class LineView:
    """One return line as the taxpayer sees it."""

    index: int  # position in the return's lines
    code: str
    label: str
    subject: str
    amount: str
    legal_reference: str
    sources: str


class Prompts:
    """Renders the templates; one per process (templates are compiled once)."""

    def __init__(self) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("notifier", "templates"),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # noqa: S701 - plain text for Telegram, SMS and the inbox
            keep_trailing_newline=False,
            trim_blocks=False,
        )

    # ---- primitives

    def text(self, lang: str, key: str, **params: Any) -> str:
        """A short text from ``messages.yaml``."""
        source = _catalogue(resolve(lang)).get(key)
        if source is None:
            raise KeyError(f"no text {key!r} for {lang}")
        return self._compile(source).render(**params).strip()

    def has_text(self, lang: str, key: str) -> bool:
        return key in _catalogue(resolve(lang))

    def template(self, lang: str, name: str, **params: Any) -> str:
        """A ``*.j2`` template."""
        try:
            template = self._env.get_template(f"{resolve(lang)}/{name}")
        except jinja2.TemplateNotFound:
            raise KeyError(f"no template {name!r} for {lang}") from None
        return template.render(**params).strip()

    @functools.lru_cache(maxsize=1024)  # noqa: B019 - one Prompts per process
    def _compile(self, source: str) -> jinja2.Template:
        return self._env.from_string(source)

    def money(self, tiyin: int, lang: str) -> str:
        lang = resolve(lang)
        soum, rest = divmod(abs(tiyin), 100)
        group, decimal = (",", ".") if lang == "en" else ("\u00a0", ",")
        figure = f"{soum:,}".replace(",", group) + (f"{decimal}{rest:02d}" if rest else "")
        currency = labels(lang)["ui.currency"]
        return f"{'-' if tiyin < 0 else ''}{figure}\u00a0{currency}"

    def date(self, iso: str, lang: str) -> str:
        day = dt.date.fromisoformat(iso)
        month = self.text(lang, f"month.{day.month}")
        return self.text(lang, "date", day=day.day, month=month, year=day.year)

    def label(self, label_key: str, lang: str) -> str:
        try:
            return line_label(label_key, resolve(lang))
        except MissingLabel:
            return label_key

    # ---- notices

    def amount_line(
        self, kind: str, balance_tiyin: int, details: Mapping[str, Any], lang: str
    ) -> str:
        paid = details.get("amount_tiyin")
        amount = abs(int(paid)) if isinstance(paid, int) else abs(balance_tiyin)
        if kind == "payment_receipt":
            return self.text(lang, "amount.paid", amount=self.money(amount, lang))
        if kind == "refund_notice":
            return self.text(lang, "amount.refunded", amount=self.money(amount, lang))
        if balance_tiyin > 0:
            return self.text(lang, "amount.payable", amount=self.money(balance_tiyin, lang))
        if balance_tiyin < 0:
            return self.text(lang, "amount.refund", amount=self.money(-balance_tiyin, lang))
        return self.text(lang, "amount.nil")

    def _extra_line(self, kind: str, details: Mapping[str, Any], lang: str) -> str:
        if kind == "amendment":
            return self._changes(details, lang)
        if kind == "payment_receipt" and details.get("receipt_id"):
            return self.text(lang, "extra.payment_receipt", receipt=details["receipt_id"])
        if kind == "refund_notice":
            interest = details.get("interest_tiyin")
            if isinstance(interest, int) and interest > 0:  # Tax Code Art 104
                return self.text(lang, "extra.refund_interest", amount=self.money(interest, lang))
            return self.text(lang, "extra.refund_notice")
        if kind == "payment_due_reminder" and details.get("payment_declined"):
            return self.text(lang, "extra.payment_declined")
        if kind == "overdue" and isinstance(details.get("interest_tiyin"), int):
            amount = self.money(int(details["interest_tiyin"]), lang)
            return self.text(lang, "extra.overdue_interest", amount=amount)
        if kind == "dispute_update":
            event = details.get("event") or details.get("status") or "opened"
            key = f"extra.dispute_update.{event}"
            return self.text(lang, key) if self.has_text(lang, key) else ""
        return ""

    def _changes(self, details: Mapping[str, Any], lang: str) -> str:
        """The lifecycle's ``code[subject]: before -> after; ...`` summary, in words."""
        found = _CHANGE.findall(str(details.get("changes") or ""))
        if not found:
            return ""
        shown = [
            self.text(
                lang,
                "extra.change",
                line=self.label(code, lang) + (f" ({subject})" if subject else ""),
                before="–" if before == "-" else self.money(int(before), lang),
                after="–" if after == "-" else self.money(int(after), lang),
            )
            for code, subject, before, after in found[:MAX_CHANGES_SHOWN]
        ]
        if len(found) > MAX_CHANGES_SHOWN:
            shown.append(
                self.text(lang, "extra.changes_more", count=len(found) - MAX_CHANGES_SHOWN)
            )
        return self.text(lang, "extra.amendment", changes="; ".join(shown))

    def notice(self, notice: Mapping[str, Any], lang: str, code: str, portal_url: str) -> Rendered:
        """The title (inbox) and body (Telegram, inbox) of a notice."""
        kind = notice["kind"]
        details = notice.get("details") or {}
        title = self.text(lang, f"title.{kind}", year=notice["tax_year"])
        deadline = notice.get("deadline")
        deadline_line = ""
        if deadline and self.has_text(lang, f"deadline.{kind}"):
            deadline_line = self.text(lang, f"deadline.{kind}", date=self.date(deadline, lang))
        payment_deadline = details.get("payment_deadline")
        if (
            kind in ("first_notice", "reminder", "amendment")
            and notice["balance_tiyin"] > 0
            and isinstance(payment_deadline, str)
        ):
            payment_line = self.text(
                lang, "deadline.payment", date=self.date(payment_deadline, lang)
            )
            deadline_line = f"{deadline_line}\n{payment_line}".strip()
        body = self.template(
            lang,
            "notice.j2",
            title=title,
            amount_line=self.amount_line(kind, notice["balance_tiyin"], details, lang),
            deadline_line=deadline_line,
            extra_line=self._extra_line(kind, details, lang),
            verify_line=self.text(lang, "verify", code=code),
            portal_line=self.text(lang, "portal", url=portal_url),
        )
        return Rendered(title, body)

    def sms(self, notice: Mapping[str, Any], lang: str, code: str, portal_url: str) -> str:
        return self.text(lang, "sms", year=notice["tax_year"], code=code, url=portal_url)

    # ---- the return in the bot

    def line_views(self, payload: records.ReturnValue, lang: str) -> list[LineView]:
        views = []
        for index, line in enumerate(payload.get("lines", [])):
            sources = list(line.get("sources") or []) if disputable(line["code"]) else []
            views.append(
                LineView(
                    index=index,
                    code=line["code"],
                    label=self.label(line.get("label_key") or line["code"], lang),
                    subject=str(line.get("subject") or ""),
                    amount=self.money(int(line["amount_tiyin"]), lang),
                    legal_reference=render_reference(str(line.get("legal_reference") or ""), lang),
                    sources=self.sources(sources, lang),
                )
            )
        return views

    def sources(self, sources: Sequence[Mapping[str, Any]], lang: str) -> str:
        """``employer reports: emp-m01 (rev. 1), emp-m02 (rev. 1) and 10 more``."""
        by_registry: dict[str, list[Mapping[str, Any]]] = {}
        for source in sources:
            by_registry.setdefault(str(source["registry"]), []).append(source)
        groups = []
        for registry, items in by_registry.items():
            shown = [
                self.text(lang, "source", record=s["record_id"], revision=s["revision"])
                for s in items[:MAX_SOURCES_SHOWN]
            ]
            if len(items) > MAX_SOURCES_SHOWN:
                shown.append(self.text(lang, "sources.more", count=len(items) - MAX_SOURCES_SHOWN))
            name_key = f"registry.{registry}"
            name = self.text(lang, name_key) if self.has_text(lang, name_key) else registry
            groups.append(self.text(lang, "sources.group", registry=name, records=", ".join(shown)))
        return "; ".join(groups)

    def details(self, payload: records.ReturnValue, lang: str) -> str:
        """Every line with its amount, legal basis and sources (the Details button)."""
        balance = int(payload["totals"]["balance_tiyin"])
        text = self.template(
            lang,
            "details.j2",
            year=payload["tax_year"],
            version=payload["version"],
            lines=self.line_views(payload, lang),
            amount_line=self.amount_line("first_notice", balance, {}, lang),
        )
        if len(text) > TELEGRAM_TEXT_LIMIT:
            text = text[: TELEGRAM_TEXT_LIMIT - 1] + "…"
        return text

    def dispute_summary(self, heading: str, items: Sequence[Mapping[str, Any]], lang: str) -> str:
        return self.template(
            lang,
            "dispute_summary.j2",
            heading=heading,
            items=[
                {
                    "label": item["label"],
                    "reason": self.text(lang, f"reason.{item['reason_code']}"),
                    "comment": item.get("comment") or "",
                }
                for item in items
            ],
        )


CATALOGUES = ("messages.yaml", "survey.yaml")  # short texts; the survey's in a file of its own


@functools.cache
def _catalogue(lang: str) -> Mapping[str, str]:
    merged: dict[str, str] = {}
    for name in CATALOGUES:
        try:
            text = (resources.files("notifier.templates") / lang / name).read_text("utf-8")
        except FileNotFoundError:
            continue
        loaded = yaml.safe_load(text)
        if not isinstance(loaded, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in loaded.items()
        ):
            raise ValueError(f"templates/{lang}/{name} must map keys to texts")
        merged.update(loaded)
    return merged


@functools.cache
def prompts() -> Prompts:
    """The process's renderer."""
    return Prompts()
