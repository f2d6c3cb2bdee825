"""The fleet-wide send budget: every sender (notifier instances, bot workers, the portal's
sign-in codes) takes send instants from one database row per bucket (a GCRA), so the
whole fleet stays under Telegram's limit however many processes run. A 429 pushes the
row forward by ``retry_after`` for everyone.

Instants are wall-clock (``time.time()``): the limit is Telegram's, not the demo clock's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from storage.notifier.rate_slots import RateSlots

TELEGRAM_BUCKET = "telegram"


class FleetLimiter:
    def __init__(
        self,
        slots: RateSlots,
        rate_per_s: float,
        bucket: str = TELEGRAM_BUCKET,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._slots = slots
        self.rate = rate_per_s
        self.bucket = bucket
        self._wall = wall

    async def reserve(self, count: int) -> list[float]:
        """``count`` send instants, ``1/rate`` apart, reserved for this caller."""
        if count <= 0:
            return []
        first = await asyncio.to_thread(
            self._slots.claim, self.bucket, count, self.rate, self._wall()
        )
        return [first + i / self.rate for i in range(count)]

    async def acquire(self) -> None:
        """Wait for one send instant (interactive replies)."""
        (instant,) = await self.reserve(1)
        delay = instant - self._wall()
        if delay > 0:
            await asyncio.sleep(delay)

    async def hold(self, seconds: float) -> None:
        """Telegram said 429: nobody in the fleet sends for ``seconds``."""
        await asyncio.to_thread(self._slots.hold, self.bucket, self._wall() + seconds)

    async def sleep_until(self, instant: float) -> None:
        delay = instant - self._wall()
        if delay > 0:
            await asyncio.sleep(delay)
