"""Screens ► Telegram messages: inline keyboards whose callback data is
``<token>:<action>``, the token an opaque random value whose sha256 names the stored menu
(chat, taxpayer, return version, allowed actions). The first press uses the menu up; a
forged token finds nothing, a replayed one finds it used, another chat's is refused."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from core.clock import Clock
from notifier import codes
from notifier.chat import Reply
from notifier.screens import Screen
from storage.notifier.menus import ButtonMenus

TOKEN_BYTES = 12  # 16 characters, 96 random bits


class Keyboards:
    def __init__(self, menus: ButtonMenus, clock: Clock, ttl: timedelta) -> None:
        self._menus = menus
        self._clock = clock
        self._ttl = ttl

    def inline(self, chat_id: int, pinfl: str, screen: Screen) -> InlineKeyboardMarkup | None:
        """Store the screen's menu and return its keyboard (None: no buttons)."""
        if not screen.buttons:
            return None
        token = codes.new_token(TOKEN_BYTES)
        self._menus.create(
            codes.token_hash(token),
            chat_id,
            pinfl,
            screen.name,
            screen.context,
            screen.actions,
            self._clock.now(),
            self._ttl,
        )
        return _keyboard(token, screen)

    def inline_many(
        self, items: list[tuple[int, str, Screen]]
    ) -> list[InlineKeyboardMarkup | None]:
        """Keyboards for several messages, their menus stored in one transaction."""
        rows: list[dict[str, Any]] = []
        markups: list[InlineKeyboardMarkup | None] = []
        for chat_id, pinfl, screen in items:
            if not screen.buttons:
                markups.append(None)
                continue
            token = codes.new_token(TOKEN_BYTES)
            rows.append(
                {
                    "token_hash": codes.token_hash(token),
                    "chat_id": chat_id,
                    "pinfl": pinfl,
                    "screen": screen.name,
                    "context": screen.context,
                    "actions": screen.actions,
                }
            )
            markups.append(_keyboard(token, screen))
        self._menus.create_many(rows, self._clock.now(), self._ttl)
        return markups

    async def markup(
        self, chat_id: int, reply: Reply, contact_label: str = ""
    ) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None:
        if reply.ask_contact:
            return ReplyKeyboardMarkup(
                [[KeyboardButton(contact_label, request_contact=True)]],
                resize_keyboard=True,
                one_time_keyboard=True,
            )
        if reply.screen.buttons and reply.pinfl is not None:
            return await asyncio.to_thread(self.inline, chat_id, reply.pinfl, reply.screen)
        if reply.drop_keyboard:
            return ReplyKeyboardRemove()
        return None


def _keyboard(token: str, screen: Screen) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(b.label, callback_data=f"{token}:{b.action}") for b in row]
            for row in screen.buttons
        ]
    )
