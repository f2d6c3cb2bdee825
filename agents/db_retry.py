"""Blocking database calls from agents: off the event loop, waited out while the database
is away (backoff 0.5, 1, 2, 5, 10 s, then every 10 s). The agent's partition waits and
nothing is dropped; an agent that raised instead would lose its batch to faust's ack."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (0.5, 1, 2, 5, 10)
T = TypeVar("T")


async def with_retry(call: Callable[..., T], *args: Any, who: str, what: str = "write") -> T:
    """``call(*args)`` in a thread until it succeeds; ``who``/``what`` name it in the log
    ("projection: database read failed, retrying in 2s")."""
    attempt = 0
    while True:
        try:
            return await asyncio.to_thread(call, *args)
        except Exception:
            delay = RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)]
            log.warning("%s: database %s failed, retrying in %ss", who, what, delay, exc_info=True)
            attempt += 1
            await asyncio.sleep(delay)
