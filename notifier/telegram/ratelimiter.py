"""PTB's rate limiter for the bot's own replies: message-producing calls take a send
instant from the fleet-wide budget (shared with the notifier) and keep to one message per
chat per interval (small bursts allowed); a 429 holds the whole fleet and is retried."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from notifier.ratelimit import FleetLimiter
from notifier.telegram.errors import retry_after_s

log = logging.getLogger(__name__)

LIMITED = frozenset({"sendmessage", "editmessagetext", "editmessagereplymarkup", "sendcontact"})


class ChatSpacing:
    """A token bucket per chat: ``burst`` messages at once, then one per ``interval``."""

    def __init__(self, interval_s: float, burst: int = 2) -> None:
        self.interval = interval_s
        self.burst = burst
        self._next: dict[int, float] = {}
        self._lock = asyncio.Lock()

    async def wait(self, chat_id: int) -> None:
        if self.interval <= 0:
            return
        async with self._lock:
            now = time.monotonic()
            # _next[chat] is when the bucket is empty-until; allow up to burst ahead.
            earliest = self._next.get(chat_id, now) - (self.burst - 1) * self.interval
            start = max(now, earliest)
            self._next[chat_id] = max(now, self._next.get(chat_id, now)) + self.interval
            if len(self._next) > 10_000:
                self._next = {c: t for c, t in self._next.items() if t > now}
        if start > now:
            await asyncio.sleep(start - now)


class FleetRateLimiter(BaseRateLimiter[int]):
    def __init__(self, fleet: FleetLimiter, per_chat: ChatSpacing, max_retries: int = 3) -> None:
        self._fleet = fleet
        self._per_chat = per_chat
        self._max_retries = max_retries

    async def initialize(self) -> None:
        """Nothing to set up: the budget lives in the database."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        limited = endpoint.lower() in LIMITED
        retries = self._max_retries if rate_limit_args is None else rate_limit_args
        for attempt in range(retries + 1):
            if limited:
                chat_id = data.get("chat_id")
                if isinstance(chat_id, int | str) and str(chat_id).lstrip("-").isdigit():
                    await self._per_chat.wait(int(chat_id))
                await self._fleet.acquire()
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                wait = retry_after_s(error)
                await self._fleet.hold(wait)
                if attempt == retries:
                    raise
                log.info("429 from Telegram: waiting %.1fs", wait)
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")
