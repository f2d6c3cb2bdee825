"""The satisfaction survey in the bot: a score pressed after a receipt, then an optional
comment typed (or skipped) within ``SURVEY_COMMENT_TIME``."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from core.clock import rfc3339
from notifier import screens
from notifier.actions import Action, Pressed
from notifier.chat import IDLE, SURVEY_COMMENT, Chat, Press, Reply
from notifier.decisions import clean_comment
from storage.notifier.menus import MenuRecord

# A message typed this long after the score is not taken as the survey's comment.
log = logging.getLogger(__name__)

SURVEY_COMMENT_TIME = timedelta(hours=1)


@dataclasses.dataclass
class SurveyChat(Chat):
    async def _survey_press(
        self, chat_id: int, menu: MenuRecord, pressed: Pressed | None, lang: str
    ) -> Press:
        """A score (``v1``..``v5``) is stored at once, with the channel ``telegram``; then
        an optional comment is typed or skipped (``sk``). The question's menu is used up
        by the first press, so a second press of any score does nothing."""
        context = menu.context
        trigger, year = str(context.get("trigger", "")), int(context["tax_year"])
        if self.surveys is None:
            return Press(self.prompts.text(lang, "answer.refused"), True, refused="no_survey")
        if menu.screen == "survey_comment":  # "Skip": the answer stands without a comment
            await self._set_state(chat_id, IDLE, {})
            return Press(replies=(Reply(self._text(lang, "survey.thanks"), edit=True),))
        score = pressed.number if pressed and pressed.action == Action.SCORE else None
        if score is None or score not in screens.SCORES:
            return Press(self.prompts.text(lang, "answer.refused"), True, refused="bad_action")
        stored = await self._db(
            self.surveys.answer,
            menu.pinfl,
            year,
            trigger,
            score,
            "",
            lang,
            self.clock.now(),
            "telegram",
        )
        if not stored:  # answered on the portal meanwhile
            text = self._text(lang, "survey.already_answered")
            return Press(replies=(Reply(text, edit=True),), refused="answered")
        log.info("survey answered in chat %s", chat_id)
        await self._set_state(
            chat_id,
            SURVEY_COMMENT,
            {
                "pinfl": menu.pinfl,
                "tax_year": year,
                "trigger": trigger,
                "asked_at": rfc3339(self.clock.now()),
            },
        )
        screen = screens.survey_comment(self.prompts, lang, context, score)
        return Press(replies=(Reply(screen, menu.pinfl, edit=True),))

    async def _survey_comment_typed(
        self, chat_id: int, pinfl: str, data: Mapping[str, Any], text: str, lang: str
    ) -> list[Reply]:
        comment = clean_comment(text)
        if not comment:
            return [Reply(self._text(lang, "bot.text_ignored"))]
        assert self.surveys is not None  # the state is set only with a survey store
        await self._db(
            self.surveys.add_comment, pinfl, int(data["tax_year"]), str(data["trigger"]), comment
        )
        await self._db(self.menus.retire, chat_id, ("survey_comment",), self.clock.now())
        await self._set_state(chat_id, IDLE, {})
        return [Reply(self._text(lang, "survey.thanks"))]
