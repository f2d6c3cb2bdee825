"""What the bot shows: a text and buttons (label + action code), built from the prompts.
Channel-neutral and pure; ``notifier/telegram/keyboards.py`` turns the buttons into an
inline keyboard whose callback data is an opaque, single-use token.

A button's action is a code of ``notifier.actions.Action`` (two letters, or letters and
a number: ``l<i>`` picks line i, ``lg<i>`` a language, ``v<n>`` a satisfaction score).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from contracts import records
from contracts.returns_v1 import disputable
from notifier.actions import REASONS, Action
from notifier.prompts import LANGUAGES, Prompts

BUTTON_TEXT_MAX = 60
ACTIONABLE_KINDS = frozenset({"first_notice", "reminder", "amendment"})
# The satisfaction survey: a delivery the notifier plans itself (never on notices.v1 or
# notifications.v1) after the receipt of a paid return or a settled refund.
SURVEY_KIND = "survey"
SURVEY_TRIGGERS = {"payment_receipt": "paid", "refund_notice": "refunded"}
SCORES = range(1, 6)


@dataclasses.dataclass(frozen=True, slots=True)
class Button:
    label: str
    action: str


@dataclasses.dataclass(frozen=True, slots=True)
class Screen:
    name: str  # which screen the buttons belong to (stored with them)
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    context: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def actions(self) -> list[str]:
        return [b.action for row in self.buttons for b in row]


def return_context(payload: records.ReturnValue) -> dict[str, Any]:
    return {
        "return_id": payload["return_id"],
        "tax_year": payload["tax_year"],
        "version": payload["version"],
    }


def notice_from_return(payload: records.ReturnValue) -> dict[str, Any]:
    """The first notice of a return version, for a card shown from the return itself."""
    return {
        "notice_id": f"first_notice:{payload['return_id']}:{payload['version']}",
        "kind": "first_notice",
        "pinfl": payload["pinfl"],
        "tax_year": payload["tax_year"],
        "return_id": payload["return_id"],
        "version": payload["version"],
        "deadline": payload["deadlines"]["declaration"],
        "balance_tiyin": payload["totals"]["balance_tiyin"],
        "details": {"payment_deadline": payload["deadlines"]["payment"]},
    }


def is_actionable(notice: Mapping[str, Any]) -> bool:
    """Notices the taxpayer answers with Agree/Disagree (a confirmed dispute too)."""
    details = notice.get("details") or {}
    return notice["kind"] in ACTIONABLE_KINDS or (
        notice["kind"] == "dispute_update" and details.get("event") == "confirmed"
    )


def _card_buttons(p: Prompts, lang: str) -> tuple[tuple[Button, ...], ...]:
    return (
        (Button(p.text(lang, "button.details"), Action.DETAILS.code()),),
        (
            Button(p.text(lang, "button.agree"), Action.AGREE.code()),
            Button(p.text(lang, "button.disagree"), Action.DISAGREE.code()),
        ),
    )


def card(p: Prompts, lang: str, notice: Mapping[str, Any], code: str, portal_url: str) -> Screen:
    """A notice as a message; actionable ones get Details / Agree / Disagree."""
    if notice["kind"] == SURVEY_KIND:
        return survey(p, lang, notice)
    text = p.notice(notice, lang, code, portal_url).body
    if not is_actionable(notice):
        return Screen("notice", text)
    context = {k: notice[k] for k in ("return_id", "tax_year", "version")}
    return Screen("card", text, _card_buttons(p, lang), context)


def details(p: Prompts, lang: str, payload: records.ReturnValue) -> Screen:
    buttons = (
        (
            Button(p.text(lang, "button.agree"), Action.AGREE.code()),
            Button(p.text(lang, "button.disagree"), Action.DISAGREE.code()),
        ),
    )
    return Screen("details", p.details(payload, lang), buttons, return_context(payload))


def agree_confirm(p: Prompts, lang: str, payload: records.ReturnValue) -> Screen:
    balance = int(payload["totals"]["balance_tiyin"])
    sign = "payable" if balance > 0 else "refund" if balance < 0 else "nil"
    text = p.text(
        lang,
        f"bot.agree_confirm.{sign}",
        year=payload["tax_year"],
        amount=p.money(abs(balance), lang),
    )
    buttons = (
        (Button(p.text(lang, "button.confirm_agree"), Action.CONFIRM_AGREE.code()),),
        (Button(p.text(lang, "button.back"), Action.BACK.code()),),
    )
    return Screen("agree", text, buttons, return_context(payload))


def agreed(p: Prompts, lang: str, payload: records.ReturnValue) -> Screen:
    text = p.text(lang, "bot.agreed", year=payload["tax_year"], version=payload["version"])
    return Screen("agreed", text)


def line_title(p: Prompts, lang: str, line: Mapping[str, Any]) -> str:
    label = p.label(line.get("label_key") or line["code"], lang)
    subject = line.get("subject")
    return f"{label} ({subject})" if subject else label


def dispute_lines(
    p: Prompts, lang: str, payload: records.ReturnValue, chosen: Mapping[str, Any]
) -> Screen:
    """Pick the lines to dispute (chosen ones are ticked), then Done or Cancel."""
    rows: list[tuple[Button, ...]] = []
    for index, line in enumerate(payload["lines"]):
        if not disputable(line["code"]):
            continue
        tick = "✓ " if str(index) in chosen else ""
        amount = p.money(int(line["amount_tiyin"]), lang)
        title = line_title(p, lang, line)
        room = BUTTON_TEXT_MAX - len(tick) - len(amount) - 3
        if len(title) > room:
            title = title[: max(1, room - 1)] + "…"
        rows.append((Button(f"{tick}{title} – {amount}", Action.LINE.code(index)),))
    last = [Button(p.text(lang, "button.cancel"), Action.CANCEL.code())]
    if chosen:
        last.insert(0, Button(p.text(lang, "button.done"), Action.DONE.code()))
    rows.append(tuple(last))
    text = p.text(lang, "bot.dispute_pick", done=p.text(lang, "button.done"))
    if chosen:
        text += "\n\n" + _summary(p, lang, payload, chosen, "")
    return Screen("lines", text, tuple(rows), return_context(payload))


def dispute_reason(p: Prompts, lang: str, payload: records.ReturnValue, index: int) -> Screen:
    line = payload["lines"][index]
    text = p.text(lang, "bot.dispute_reason", line=line_title(p, lang, line))
    reasons = [
        Button(p.text(lang, f"reason.{code}"), action.code()) for action, code in REASONS.items()
    ]
    buttons = (
        (reasons[0], reasons[1]),
        (reasons[2], reasons[3]),
        (Button(p.text(lang, "button.back"), Action.BACK.code()),),
    )
    return Screen("reason", text, buttons, {**return_context(payload), "line": index})


def dispute_comment(
    p: Prompts, lang: str, payload: records.ReturnValue, index: int, required: bool
) -> Screen:
    line = line_title(p, lang, payload["lines"][index])
    if required:
        return Screen("comment", p.text(lang, "bot.dispute_comment_required", line=line))
    skip = p.text(lang, "button.skip")
    text = p.text(lang, "bot.dispute_comment", line=line, skip=skip)
    return Screen(
        "comment",
        text,
        ((Button(skip, Action.SKIP.code()),),),
        {**return_context(payload), "line": index},
    )


def _summary(
    p: Prompts, lang: str, payload: records.ReturnValue, chosen: Mapping[str, Any], heading: str
) -> str:
    items = [
        {
            "label": line_title(p, lang, payload["lines"][int(index)]),
            "reason_code": item["reason_code"],
            "comment": item.get("comment", ""),
        }
        for index, item in sorted(chosen.items(), key=lambda kv: int(kv[0]))
    ]
    return p.dispute_summary(heading, items, lang)


def dispute_confirm(
    p: Prompts, lang: str, payload: records.ReturnValue, chosen: Mapping[str, Any]
) -> Screen:
    heading = p.text(lang, "bot.dispute_confirm", year=payload["tax_year"])
    buttons = (
        (Button(p.text(lang, "button.send"), Action.SEND.code()),),
        (
            Button(p.text(lang, "button.back"), Action.BACK.code()),
            Button(p.text(lang, "button.cancel"), Action.CANCEL.code()),
        ),
    )
    return Screen(
        "confirm", _summary(p, lang, payload, chosen, heading), buttons, return_context(payload)
    )


def disputed(p: Prompts, lang: str) -> Screen:
    return Screen("disputed", p.text(lang, "bot.disputed"))


def language_menu(p: Prompts, lang: str) -> Screen:
    buttons = tuple(
        (Button(p.text(code, "language.name"), Action.LANGUAGE.code(i)),)
        for i, code in enumerate(LANGUAGES)
    )
    return Screen("language", p.text(lang, "bot.language"), buttons)


def survey_notice(notice: Mapping[str, Any]) -> dict[str, Any]:
    """The survey question planned after a receipt (``notices.v1``) of a paid return or a
    settled refund; one per return (its id does not name the version or the occasion)."""
    return {
        "notice_id": f"{SURVEY_KIND}:{notice['return_id']}",
        "kind": SURVEY_KIND,
        "pinfl": notice["pinfl"],
        "tax_year": notice["tax_year"],
        "return_id": notice["return_id"],
        "version": notice["version"],
        "details": {"trigger": SURVEY_TRIGGERS[notice["kind"]]},
    }


def survey(p: Prompts, lang: str, notice: Mapping[str, Any]) -> Screen:
    """How satisfied, 1 (worst) to 5 (best): five buttons in a row."""
    buttons = (
        tuple(Button(p.text(lang, f"survey.score.{n}"), Action.SCORE.code(n)) for n in SCORES),
    )
    context = {k: notice[k] for k in ("return_id", "tax_year", "version")}
    context["trigger"] = notice["details"]["trigger"]
    return Screen("survey", p.text(lang, "survey.question", year=notice["tax_year"]), buttons,
                  context)  # fmt: skip


def survey_comment(p: Prompts, lang: str, context: Mapping[str, Any], score: int) -> Screen:
    buttons = ((Button(p.text(lang, "survey.button.skip"), Action.SKIP.code()),),)
    text = p.text(lang, "survey.ask_comment", score=score)
    return Screen("survey_comment", text, buttons, dict(context))


def text_screen(p: Prompts, lang: str, key: str, **params: Any) -> Screen:
    return Screen("text", p.text(lang, key, **params))


def disputed_lines(
    payload: records.ReturnValue, chosen: Mapping[str, Any]
) -> list[records.DecisionLine]:
    """The ``lines`` of a decisions.v1 disagreement."""
    lines: list[records.DecisionLine] = []
    for index, item in sorted(chosen.items(), key=lambda kv: int(kv[0])):
        line = payload["lines"][int(index)]
        code, reason, comment = line["code"], item["reason_code"], item.get("comment", "")
        if line.get("subject"):  # which employer, lease, sale
            subject = str(line["subject"])
            lines.append(
                {"code": code, "reason_code": reason, "subject": subject, "comment": comment}
            )
        else:
            lines.append({"code": code, "reason_code": reason, "comment": comment})
    return lines


def valid_line(payload: records.ReturnValue, index: int) -> bool:
    lines: Sequence[Mapping[str, Any]] = payload.get("lines", [])
    return 0 <= index < len(lines) and disputable(lines[index]["code"])
