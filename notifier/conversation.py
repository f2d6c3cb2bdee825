"""The bot's conversation, free of Telegram types: linking (deep link, shared contact),
unlinking, the return card and its buttons, Details, Agree, the per-line Disagree walk
and the language. State lives in the database (``storage/notifier/``): links, single-use
button menus and the conversation row; nothing is kept in memory between updates.

States (docs/notifier.md draws them): ``idle``, ``awaiting_contact``, ``disputing``
(choosing lines), ``awaiting_comment`` (a reason is chosen, the comment is typed next),
``survey_comment`` (a satisfaction score is stored, an optional comment may follow).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from contracts import records
from contracts.redaction import mask_pinfl
from core.clock import rfc3339
from notifier import actions, codes, screens
from notifier.actions import REASONS, Action, Pressed
from notifier.chat import (
    AWAITING_COMMENT,
    AWAITING_CONTACT,
    DISPUTING,
    IDLE,
    SURVEY_COMMENT,
    Press,
    Reply,
)
from notifier.decisions import DecisionRefused, clean_comment
from notifier.prompts import LANGUAGES
from notifier.survey_chat import SURVEY_COMMENT_TIME, SurveyChat
from storage.notifier.menus import MenuRecord

log = logging.getLogger(__name__)
DISPUTE_WALK = ("lines", "reason", "comment", "confirm")  # the screens of one dispute
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_REFUSAL_TEXTS = {
    "already_settled": "answer.already_settled",
    "in_review": "answer.in_review",
    "unknown_version": "answer.try_again",
    "unknown_return": "answer.try_again",
    "payment_in_progress": "answer.already_settled",
}


def _base(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: data.get(k) for k in ("pinfl", "return_id", "tax_year", "version")}


def _base_of(menu: MenuRecord, payload: records.ReturnValue) -> dict[str, Any]:
    return {
        "pinfl": menu.pinfl,
        "return_id": payload["return_id"],
        "tax_year": payload["tax_year"],
        "version": payload["version"],
    }


@dataclasses.dataclass
class BotService(SurveyChat):
    async def start(
        self, chat_id: int, user_id: int, payload: str, language_code: str | None = None
    ) -> list[Reply]:
        """``/start [token]``: link by a one-time deep-link token, or ask for the contact."""
        if payload:
            pinfl, why = None, "malformed"
            if _TOKEN.match(payload):
                pinfl, why = await self._db(
                    self.tokens.consume, codes.token_hash(payload), chat_id, self.clock.now()
                )
            if pinfl is None:
                log.info("link token refused (%s) in chat %s", why, chat_id)
                lang = await self.language_of(chat_id, language_code)
                return [Reply(self._text(lang, "bot.link_refused", url=self.portal_url))]
            return await self._linked(chat_id, user_id, pinfl, "deep_link")
        link = await self._db(self.links.by_chat, chat_id)
        lang = await self.language_of(chat_id, language_code)
        if link is not None:
            await self._db(self.links.mark_reachable, chat_id)
            return [await self._return_card(link.pinfl, lang)]
        await self._set_state(chat_id, AWAITING_CONTACT, {})
        return [Reply(self._text(lang, "bot.welcome", url=self.portal_url), ask_contact=True)]

    async def contact(
        self,
        chat_id: int,
        user_id: int,
        contact_user_id: int | None,
        phone: str,
        language_code: str | None = None,
    ) -> list[Reply]:
        """A shared contact links only when it is the sender's own and the population
        registry knows exactly one person with that phone."""
        lang = await self.language_of(chat_id, language_code)
        if contact_user_id is None or contact_user_id != user_id:
            log.info("contact refused in chat %s: not the sender's own", chat_id)
            return [Reply(self._text(lang, "bot.contact_not_own"), ask_contact=True)]
        digits = re.sub(r"\D", "", phone)
        people = await self._db(self.people.by_phone, f"+{digits}") if digits else []
        if len(people) != 1:
            log.info("contact refused in chat %s: %d matches", chat_id, len(people))
            return [
                Reply(
                    self._text(lang, "bot.contact_unknown", url=self.portal_url),
                    drop_keyboard=True,
                )
            ]
        return await self._linked(chat_id, user_id, people[0].pinfl, "contact")

    async def _linked(self, chat_id: int, user_id: int, pinfl: str, via: str) -> list[Reply]:
        replaced = await self._db(self.links.link, chat_id, user_id, pinfl, via, self.clock.now())
        await self._set_state(chat_id, IDLE, {})
        log.info(
            "chat %s linked to %s by %s%s",
            chat_id,
            mask_pinfl(pinfl),
            via,
            f" (chat {replaced} unlinked)" if replaced else "",
        )
        lang = await self.language_of(chat_id)
        return [
            Reply(self._text(lang, "bot.linked"), drop_keyboard=True),
            await self._return_card(pinfl, lang),
        ]

    async def unlink(self, chat_id: int, language_code: str | None = None) -> list[Reply]:
        """``/unlink``: the chat stops receiving notices (the portal inbox keeps them)."""
        lang = await self.language_of(chat_id, language_code)
        pinfl = await self._db(self.links.unlink_chat, chat_id)
        if pinfl is None:
            return [Reply(self._text(lang, "bot.not_linked"))]
        log.info("chat %s unlinked from %s", chat_id, mask_pinfl(pinfl))
        return [Reply(self._text(lang, "bot.unlinked", url=self.portal_url))]

    async def show_return(self, chat_id: int, language_code: str | None = None) -> list[Reply]:
        """``/return``: the current return with its buttons."""
        link = await self._db(self.links.by_chat, chat_id)
        lang = await self.language_of(chat_id, language_code)
        if link is None:
            return [Reply(self._text(lang, "bot.not_linked"))]
        return [await self._return_card(link.pinfl, lang)]

    async def help(self, chat_id: int, language_code: str | None = None) -> list[Reply]:
        lang = await self.language_of(chat_id, language_code)
        return [Reply(self._text(lang, "bot.help"))]

    async def language(self, chat_id: int, language_code: str | None = None) -> list[Reply]:
        link = await self._db(self.links.by_chat, chat_id)
        lang = await self.language_of(chat_id, language_code)
        if link is None:
            return [Reply(self._text(lang, "bot.not_linked"))]
        return [Reply(screens.language_menu(self.prompts, lang), link.pinfl)]

    async def text(self, chat_id: int, text: str, language_code: str | None = None) -> list[Reply]:
        """A typed message: the comment of a disputed line, or a hint."""
        state, data = await self._db(self.conversations.get, chat_id)
        link = await self._db(self.links.by_chat, chat_id)
        lang = await self.language_of(chat_id, language_code)
        if state == SURVEY_COMMENT and link is not None and link.pinfl == data.get("pinfl"):
            if self.clock.now() - datetime.fromisoformat(data["asked_at"]) <= SURVEY_COMMENT_TIME:
                return await self._survey_comment_typed(chat_id, link.pinfl, data, text, lang)
            await self._set_state(chat_id, IDLE, {})  # too late to be that comment
        if state != AWAITING_COMMENT or link is None or link.pinfl != data.get("pinfl"):
            return [Reply(self._text(lang, "bot.text_ignored"))]
        comment = clean_comment(text)
        if not comment:
            return [Reply(self._text(lang, "bot.text_ignored"))]
        payload, _ = await self._db(
            self._version, link.pinfl, int(data["tax_year"]), int(data["version"])
        )
        if payload is None:
            return [Reply(self._text(lang, "bot.no_return"))]
        chosen = dict(data.get("chosen", {}))
        chosen[str(data["line"])] = {"reason_code": data["reason_code"], "comment": comment}
        await self._db(self.menus.retire, chat_id, ("comment",), self.clock.now())
        await self._set_state(chat_id, DISPUTING, {**_base(data), "chosen": chosen})
        return [Reply(screens.dispute_lines(self.prompts, lang, payload, chosen), link.pinfl)]

    async def press(
        self,
        chat_id: int,
        data: str,
        language_code: str | None = None,
        user_id: int | None = None,
    ) -> Press:
        """A button press: the menu it names must be live, this chat's and unused, and the
        presser the linked user (``user_id``; in a private chat it is the chat's id). A
        press by anyone else is refused before it can use the menu up."""
        token, _, action = data.partition(":")
        now = self.clock.now()
        presser = chat_id if user_id is None else user_id
        link = await self._db(self.links.by_chat, chat_id)
        if link is not None and link.user_id != presser:
            lang = await self.language_of(chat_id, language_code)
            log.info("button refused (not the linked user) in chat %s", chat_id)
            return Press(self.prompts.text(lang, "answer.refused"), True, refused="foreign_user")
        menu, why = (None, "malformed")
        if token and action and len(data) <= 64:
            menu, why = await self._db(
                self.menus.consume, codes.token_hash(token), chat_id, action, now
            )
        lang = await self.language_of(chat_id, language_code)
        if menu is None:
            log.info("button refused (%s) in chat %s", why, chat_id)
            return Press(self.prompts.text(lang, "answer.refused"), True, refused=why)
        if link is None or link.pinfl != menu.pinfl:
            log.info("button refused (not linked) in chat %s", chat_id)
            return Press(self.prompts.text(lang, "answer.refused"), True, refused="not_linked")
        pressed = actions.parse(action)
        if menu.screen == "language":
            return await self._language_chosen(chat_id, pressed)
        if menu.screen in ("survey", "survey_comment"):
            return await self._survey_press(chat_id, menu, pressed, lang)
        context = menu.context
        payload, latest = await self._db(
            self._version, menu.pinfl, int(context["tax_year"]), int(context["version"])
        )
        if payload is None:
            return Press(self.prompts.text(lang, "answer.refused"), True, refused="no_return")
        if latest > int(context["version"]) and pressed and pressed.action in DECIDING:
            newest, _ = await self._db(self._version, menu.pinfl, int(context["tax_year"]), latest)
            assert newest is not None
            await self._set_state(chat_id, IDLE, {})
            return Press(
                self.prompts.text(lang, "answer.outdated"),
                True,
                (Reply(self._card(newest, lang), menu.pinfl),),
                refused="outdated",
            )
        handler = None if pressed is None else _HANDLERS.get((menu.screen, pressed.action))
        if handler is None or pressed is None:
            return Press(self.prompts.text(lang, "answer.refused"), True, refused="bad_action")
        return await handler(self, chat_id, menu, pressed, payload, lang)

    async def _not_accepted(
        self,
        chat_id: int,
        menu: MenuRecord,
        payload: records.ReturnValue,
        lang: str,
        refused: DecisionRefused,
    ) -> Press:
        """The lifecycle refused the decision: say why; a newer version is shown at once."""
        await self._set_state(chat_id, IDLE, {})
        if refused.code == "superseded_version" and refused.current_version:
            newest, _ = await self._db(
                self._version, menu.pinfl, int(payload["tax_year"]), refused.current_version
            )
            if newest is not None:
                return Press(
                    self.prompts.text(lang, "answer.outdated"),
                    True,
                    (Reply(self._card(newest, lang), menu.pinfl),),
                    refused=refused.code,
                )
        key = _REFUSAL_TEXTS.get(refused.code, "answer.not_accepted")
        text = self.prompts.text(lang, key)
        return Press(text, True, (Reply(self._text(lang, key), edit=True),), refused=refused.code)

    async def _language_chosen(self, chat_id: int, pressed: Pressed | None) -> Press:
        if pressed is None or pressed.action != Action.LANGUAGE or pressed.number is None:
            return Press("", refused="bad_action")
        try:
            chosen = LANGUAGES[pressed.number]
        except IndexError:
            return Press("", refused="bad_action")
        await self._db(self.links.set_language, chat_id, chosen)
        screen = self._text(chosen, "bot.language_set")
        return Press(replies=(Reply(screen, edit=True),))

    async def _details(
        self,
        chat_id: int,
        menu: MenuRecord,
        pressed: Pressed,
        payload: records.ReturnValue,
        lang: str,
    ) -> Press:
        await self.decisions.record_view(
            pinfl=menu.pinfl,
            return_id=payload["return_id"],
            tax_year=payload["tax_year"],
            version=payload["version"],
        )
        screen = screens.details(self.prompts, lang, payload)
        return Press(replies=(Reply(screen, menu.pinfl, edit=True),))

    async def _agree(
        self,
        chat_id: int,
        menu: MenuRecord,
        pressed: Pressed,
        payload: records.ReturnValue,
        lang: str,
    ) -> Press:
        screen = screens.agree_confirm(self.prompts, lang, payload)
        return Press(replies=(Reply(screen, menu.pinfl, edit=True),))

    async def _agreed(
        self,
        chat_id: int,
        menu: MenuRecord,
        pressed: Pressed,
        payload: records.ReturnValue,
        lang: str,
    ) -> Press:
        try:
            await self.decisions.submit_decision(
                pinfl=menu.pinfl,
                return_id=payload["return_id"],
                tax_year=payload["tax_year"],
                version=payload["version"],
                decision="agree",
                decided_at=rfc3339(self.clock.now()),
            )
        except DecisionRefused as refused:
            return await self._not_accepted(chat_id, menu, payload, lang, refused)
        await self._set_state(chat_id, IDLE, {})
        return Press(replies=(Reply(screens.agreed(self.prompts, lang, payload), edit=True),))

    async def _back_to_card(
        self,
        chat_id: int,
        menu: MenuRecord,
        pressed: Pressed,
        payload: records.ReturnValue,
        lang: str,
    ) -> Press:
        await self._set_state(chat_id, IDLE, {})
        return Press(replies=(Reply(self._card(payload, lang), menu.pinfl, edit=True),))

    async def _cancel(
        self,
        chat_id: int,
        menu: MenuRecord,
        pressed: Pressed,
        payload: records.ReturnValue,
        lang: str,
    ) -> Press:
        await self._set_state(chat_id, IDLE, {})
        await self._db(self.menus.retire, chat_id, DISPUTE_WALK, self.clock.now())
        return Press(
            replies=(
                Reply(self._text(lang, "bot.dispute_cancelled"), edit=True),
                Reply(self._card(payload, lang), menu.pinfl),
            )
        )

    async def _dispute(
        self,
        chat_id: int,
        menu: MenuRecord,
        pressed: Pressed,
        payload: records.ReturnValue,
        lang: str,
    ) -> Press:
        data = {**_base_of(menu, payload), "chosen": {}}
        await self._set_state(chat_id, DISPUTING, data)
        screen = screens.dispute_lines(self.prompts, lang, payload, {})
        return Press(replies=(Reply(screen, menu.pinfl, edit=True),))

    async def _progress(
        self, chat_id: int, menu: MenuRecord, payload: records.ReturnValue
    ) -> dict[str, Any]:
        """The dispute in progress for this return version (a fresh one if it is another)."""
        state, data = await self._db(self.conversations.get, chat_id)
        if state not in (DISPUTING, AWAITING_COMMENT) or _base(data) != _base_of(menu, payload):
            return {**_base_of(menu, payload), "chosen": {}}
        return {**_base(data), "chosen": dict(data.get("chosen", {}))}

    async def _pick_line(
        self,
        chat_id: int,
        menu: MenuRecord,
        pressed: Pressed,
        payload: records.ReturnValue,
        lang: str,
    ) -> Press:
        index = pressed.number
        if index is None:
            return Press(self.prompts.text(lang, "answer.refused"), True, refused="bad_action")
        if not screens.valid_line(payload, index):
            return Press(self.prompts.text(lang, "answer.refused"), True, refused="bad_line")
        data = await self._progress(chat_id, menu, payload)
        await self._set_state(chat_id, DISPUTING, data)
        screen = screens.dispute_reason(self.prompts, lang, payload, index)
        return Press(replies=(Reply(screen, menu.pinfl, edit=True),))

    async def _reason(
        self,
        chat_id: int,
        menu: MenuRecord,
        pressed: Pressed,
        payload: records.ReturnValue,
        lang: str,
    ) -> Press:
        reason = REASONS.get(pressed.action)
        index = int(menu.context.get("line", -1))
        if reason is None or not screens.valid_line(payload, index):
            return Press(self.prompts.text(lang, "answer.refused"), True, refused="bad_action")
        data = await self._progress(chat_id, menu, payload)
        required = reason == "other"
        await self._set_state(
            chat_id,
            AWAITING_COMMENT,
            {**data, "line": index, "reason_code": reason, "required": required},
        )
        screen = screens.dispute_comment(self.prompts, lang, payload, index, required)
        return Press(replies=(Reply(screen, menu.pinfl, edit=True),))

    async def _skip_comment(
        self,
        chat_id: int,
        menu: MenuRecord,
        pressed: Pressed,
        payload: records.ReturnValue,
        lang: str,
    ) -> Press:
        state, data = await self._db(self.conversations.get, chat_id)
        index = int(menu.context.get("line", -1))
        if state != AWAITING_COMMENT or data.get("line") != index or data.get("required"):
            return Press(self.prompts.text(lang, "answer.refused"), True, refused="stale")
        chosen = dict(data.get("chosen", {}))
        chosen[str(index)] = {"reason_code": data["reason_code"], "comment": ""}
        await self._set_state(chat_id, DISPUTING, {**_base(data), "chosen": chosen})
        screen = screens.dispute_lines(self.prompts, lang, payload, chosen)
        return Press(replies=(Reply(screen, menu.pinfl, edit=True),))

    async def _lines_again(
        self,
        chat_id: int,
        menu: MenuRecord,
        pressed: Pressed,
        payload: records.ReturnValue,
        lang: str,
    ) -> Press:
        data = await self._progress(chat_id, menu, payload)
        await self._set_state(chat_id, DISPUTING, data)
        screen = screens.dispute_lines(self.prompts, lang, payload, data["chosen"])
        return Press(replies=(Reply(screen, menu.pinfl, edit=True),))

    async def _done(
        self,
        chat_id: int,
        menu: MenuRecord,
        pressed: Pressed,
        payload: records.ReturnValue,
        lang: str,
    ) -> Press:
        data = await self._progress(chat_id, menu, payload)
        if not data["chosen"]:
            return await self._lines_again(chat_id, menu, pressed, payload, lang)
        screen = screens.dispute_confirm(self.prompts, lang, payload, data["chosen"])
        return Press(replies=(Reply(screen, menu.pinfl, edit=True),))

    async def _send_dispute(
        self,
        chat_id: int,
        menu: MenuRecord,
        pressed: Pressed,
        payload: records.ReturnValue,
        lang: str,
    ) -> Press:
        data = await self._progress(chat_id, menu, payload)
        if not data["chosen"]:
            return Press(self.prompts.text(lang, "answer.refused"), True, refused="stale")
        try:
            await self.decisions.submit_decision(
                pinfl=menu.pinfl,
                return_id=payload["return_id"],
                tax_year=payload["tax_year"],
                version=payload["version"],
                decision="disagree",
                decided_at=rfc3339(self.clock.now()),
                lines=screens.disputed_lines(payload, data["chosen"]),
            )
        except DecisionRefused as refused:
            return await self._not_accepted(chat_id, menu, payload, lang, refused)
        await self._set_state(chat_id, IDLE, {})
        await self._db(self.menus.retire, chat_id, DISPUTE_WALK, self.clock.now())
        return Press(replies=(Reply(screens.disputed(self.prompts, lang), edit=True),))


# What a press on each screen does.
_HANDLERS = {
    ("card", Action.DETAILS): BotService._details,
    ("card", Action.AGREE): BotService._agree,
    ("card", Action.DISAGREE): BotService._dispute,
    ("details", Action.AGREE): BotService._agree,
    ("details", Action.DISAGREE): BotService._dispute,
    ("agree", Action.CONFIRM_AGREE): BotService._agreed,
    ("agree", Action.BACK): BotService._back_to_card,
    ("lines", Action.LINE): BotService._pick_line,
    ("lines", Action.DONE): BotService._done,
    ("lines", Action.CANCEL): BotService._cancel,
    **{("reason", reason): BotService._reason for reason in REASONS},
    ("reason", Action.BACK): BotService._lines_again,
    ("comment", Action.SKIP): BotService._skip_comment,
    ("confirm", Action.SEND): BotService._send_dispute,
    ("confirm", Action.BACK): BotService._lines_again,
    ("confirm", Action.CANCEL): BotService._cancel,
}


# Presses that decide on a version: on an outdated one, the newest is shown instead.
DECIDING = frozenset(
    {Action.DETAILS, Action.AGREE, Action.CONFIRM_AGREE, Action.DISAGREE, Action.SEND, Action.DONE}
)
