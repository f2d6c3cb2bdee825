"""A bot in the test's event loop: the emulator, the real PTB Application (polling), the
conversation service on a SQLite file, and a recording decision port."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from core.clock import FixedClock
from core.settings import Settings
from notifier.conversation import BotService
from notifier.telegram.bot import build_application
from notifier.telegram.emulator.state import Emulator, Limits
from notifier.wiring import Parts, build
from storage.migrate import upgrade
from storage.people import PersonUpdate
from tests.support.waiting import await_until
from tests.unit.notifier.emulated import TOKEN, emulator
from tests.unit.notifier.factories import PINFL, return_value

NOW = dt.datetime(2027, 2, 10, 11, 0, tzinfo=dt.UTC)
PHONE = "+998901234567"


class RecordingDecisions:
    """The decision port's test double: keeps what the bot submitted."""

    def __init__(self) -> None:
        self.decisions: list[dict[str, Any]] = []
        self.views: list[dict[str, Any]] = []

    async def submit_decision(self, **decision: Any) -> dict[str, Any]:
        self.decisions.append(decision)
        return decision

    async def record_view(self, **view: Any) -> None:
        self.views.append(view)


@dataclasses.dataclass
class Harness:
    state: Emulator
    url: str
    parts: Parts
    service: BotService
    decisions: RecordingDecisions

    def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
        return self.state.bot_messages(chat_id)

    async def wait(self, probe: Callable[[], Any], what: str) -> Any:
        async def check() -> Any:
            return probe()

        return await await_until(check, timeout_s=10, interval_s=0.05, what=what)

    async def wait_for_bot(self, chat_id: int, count: int) -> list[dict[str, Any]]:
        return await self.wait(
            lambda: (
                self.bot_messages(chat_id) if len(self.bot_messages(chat_id)) >= count else None
            ),
            f"{count} bot messages",
        )

    async def press(
        self, chat_id: int, message_id: int, button: str | None = None, data: str | None = None
    ) -> dict[str, Any]:
        """Press and wait until the bot answered the callback."""
        _, query_id = self.state.press(chat_id, message_id, button_text=button, callback_data=data)
        return await self.wait(
            lambda: (
                self.state.callbacks[query_id]
                if self.state.callbacks[query_id]["answered"]
                else None
            ),
            "the callback answered",
        )

    async def press_for_reply(
        self, chat_id: int, message_id: int, button: str | None = None, data: str | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Press, then wait for the bot's reply too: the bot answers the callback first and
        edits the pressed message (or sends a new one) afterwards. Returns the answer and
        the message that changed (the new one when one was sent)."""
        before = self._snapshot(chat_id)
        answer = await self.press(chat_id, message_id, button, data)

        def changed() -> dict[str, Any] | None:
            now = self.bot_messages(chat_id)
            if len(now) > len(before):
                return now[-1]
            return next((m for m in now if _frozen(m) not in before), None)

        return answer, await self.wait(changed, "the bot's reply to the press")

    def _snapshot(self, chat_id: int) -> list[str]:
        return [_frozen(m) for m in self.bot_messages(chat_id)]

    def settle(self) -> Any:
        """Wait until the bot has processed every update."""
        return self.wait(lambda: not self.state.updates, "updates consumed")


def _frozen(message: dict[str, Any]) -> str:
    """A message as it stands now (id, text, buttons), to notice an edit."""
    return json.dumps(
        [message["message_id"], message.get("text"), message.get("reply_markup")],
        sort_keys=True,
    )


def settings_for(tmp_path: Path, url: str) -> Settings:
    return dataclasses.replace(
        Settings.from_env({"PROACTAX_RUN_DIR": str(tmp_path), "PROACTAX_DEVELOPMENT": "1"}),
        database_url=f"sqlite:///{tmp_path / 'bot.db'}",
        telegram_bot_token=TOKEN,
        telegram_api_url=url,
        telegram_per_chat_interval_s=0.0,
        tax_year_max=2026,
    )


@contextlib.asynccontextmanager
async def running_bot(tmp_path: Path, limits: Limits | None = None) -> AsyncIterator[Harness]:
    async with emulator(limits or Limits(per_chat_rate=100, per_chat_burst=100)) as (state, url):
        settings = settings_for(tmp_path, url)
        upgrade(settings.database)
        parts = build(settings, FixedClock(NOW))
        parts.people.apply(
            [
                PersonUpdate(
                    PINFL,
                    1,
                    {"full_name": "Test Person", "phone": PHONE, "preferred_language": "en"},
                )
            ],
            NOW,
        )
        parts.returns.save_versions([return_value()], NOW)
        decisions = RecordingDecisions()
        service = BotService(
            links=parts.links,
            tokens=parts.tokens,
            menus=parts.menus,
            conversations=parts.conversations,
            people=parts.people,
            returns=parts.returns,
            decisions=decisions,
            prompts=parts.prompts,
            clock=parts.clock,
            secret=parts.secret,
            portal_url="https://my.soliq.uz",
            tax_years=settings.tax_years,
            surveys=parts.surveys,
        )
        application = build_application(settings, service, parts.keyboards, None, updater=True)
        async with application:
            await application.start()
            assert application.updater is not None
            await application.updater.start_polling(poll_interval=0.0, timeout=1)
            try:
                yield Harness(state, url, parts, service, decisions)
            finally:
                await application.updater.stop()
                await application.stop()
                # One turn of the loop (not a timed wait): PTB's cancelled polling task
                # finishes its cleanup before the emulator it talks to is shut down.
                await asyncio.sleep(0)
