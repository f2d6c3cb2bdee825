"""What every step of the bot's conversation stands on: its states, the replies it
makes (``Reply``, ``Press``), the stores it reads and writes (``Chat``) and the helpers
that read a return, a card, the language and the state."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, cast

from contracts import records
from core.clock import Clock
from notifier import codes, screens
from notifier.decisions import DecisionPort
from notifier.prompts import Prompts, resolve
from notifier.screens import Screen
from storage.notifier.conversations import Conversations
from storage.notifier.links import LinkTokens, TelegramLinks
from storage.notifier.menus import ButtonMenus
from storage.people import PeopleRepository
from storage.portal.surveys import SurveyRepository
from storage.returns_repository import ReturnsRepository

IDLE, AWAITING_CONTACT, DISPUTING, AWAITING_COMMENT, SURVEY_COMMENT = (
    "idle",
    "awaiting_contact",
    "disputing",
    "awaiting_comment",
    "survey_comment",
)


_TELEGRAM_LANGUAGES = {"ru": "ru", "en": "en", "uz": "uz-Latn", "kaa": "kaa"}


@dataclasses.dataclass(frozen=True, slots=True)
class Reply:
    screen: Screen
    pinfl: str | None = None  # whose buttons these are (None: no buttons)
    edit: bool = False  # replace the message whose button was pressed
    ask_contact: bool = False  # show the "share my phone number" keyboard
    drop_keyboard: bool = False  # remove that keyboard


@dataclasses.dataclass(frozen=True, slots=True)
class Press:
    """How to answer a button press (always answered) and what to show."""

    answer: str = ""
    alert: bool = False
    replies: tuple[Reply, ...] = ()
    refused: str = ""  # why a press was refused (logs and tests), empty when accepted


@dataclasses.dataclass
class Chat:
    links: TelegramLinks
    tokens: LinkTokens
    menus: ButtonMenus
    conversations: Conversations
    people: PeopleRepository
    returns: ReturnsRepository
    decisions: DecisionPort
    prompts: Prompts
    clock: Clock
    secret: bytes
    portal_url: str
    tax_years: range
    button_ttl: timedelta = timedelta(days=120)
    surveys: SurveyRepository | None = None  # None: survey buttons are refused

    async def _db(self, fn: Any, *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    async def language_of(self, chat_id: int, language_code: str | None = None) -> str:
        link = await self._db(self.links.by_chat, chat_id)
        if link is not None and link.language:
            return resolve(link.language)
        if link is not None:
            person = await self._db(self.people.get, link.pinfl)
            if person is not None and person.preferred_language:
                return resolve(person.preferred_language)
        return resolve(_TELEGRAM_LANGUAGES.get((language_code or "").split("-")[0].lower()))

    def _current_return(self, pinfl: str) -> records.ReturnValue | None:
        for year in reversed(self.tax_years):
            row = self.returns.latest(pinfl, year)
            if row is not None:
                return _return_value(row.payload)
        return None

    def _version(
        self, pinfl: str, tax_year: int, version: int
    ) -> tuple[records.ReturnValue | None, int]:
        rows = self.returns.versions(pinfl, tax_year)
        wanted = next((_return_value(r.payload) for r in rows if r.version == version), None)
        return wanted, max((r.version for r in rows), default=0)

    def _card(self, payload: records.ReturnValue, lang: str) -> Screen:
        notice = screens.notice_from_return(payload)
        code = codes.verification_code(self.secret, payload["pinfl"], notice["notice_id"])
        return screens.card(self.prompts, lang, notice, code, self.portal_url)

    def card_for_notice(self, notice: Mapping[str, Any], lang: str) -> Screen:
        code = codes.verification_code(self.secret, notice["pinfl"], notice["notice_id"])
        return screens.card(self.prompts, lang, notice, code, self.portal_url)

    async def _return_card(self, pinfl: str, lang: str) -> Reply:
        payload = await self._db(self._current_return, pinfl)
        if payload is None:
            return Reply(screens.text_screen(self.prompts, lang, "bot.no_return"))
        return Reply(self._card(payload, lang), pinfl)

    async def _set_state(self, chat_id: int, state: str, data: Mapping[str, Any]) -> None:
        await self._db(self.conversations.set, chat_id, state, data, self.clock.now())

    def _text(self, lang: str, key: str, **params: Any) -> Screen:
        return screens.text_screen(self.prompts, lang, key, **params)


def _return_value(stored: Mapping[str, Any]) -> records.ReturnValue:
    """A stored ``returns.v1`` value (written by the projection from our own worker's
    topic) as its record: read once here, at the database."""
    return cast(records.ReturnValue, dict(stored))
