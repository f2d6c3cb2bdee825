"""A blocking call off the event loop, tried again with backoff until it succeeds (0.5, 1, 2,
5, 10 s, then every 10 s): how the stream agents, the lifecycle consumer and the notifier wait
out a database that is away. The work waits and nothing is dropped or acknowledged early.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (0.5, 1.0, 2.0, 5.0, 10.0)
T = TypeVar("T")


class RetryStopped(Exception):
    """The call failed after ``stop`` was set: the caller gives up without a result."""


def backoff_delay(attempt: int) -> float:
    """Seconds to wait after the ``attempt``-th failure (0-based)."""
    return RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)]


async def retry_in_thread(
    call: Callable[..., T],
    *args: Any,
    what: str,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    stop: asyncio.Event | None = None,
) -> T:
    """``call(*args)`` in a thread until it succeeds. A failure of ``retry_on`` is logged
    ("<what> failed, retrying in 2.0s") and tried again after ``backoff_delay``; any other
    error propagates. With ``stop`` set when a call fails, ``RetryStopped`` is raised
    instead of waiting."""
    attempt = 0
    while True:
        try:
            return await asyncio.to_thread(call, *args)
        except retry_on as error:
            if stop is not None and stop.is_set():
                raise RetryStopped(what) from error
            delay = backoff_delay(attempt)
            log.warning("%s failed, retrying in %ss", what, delay, exc_info=True)
            attempt += 1
            await asyncio.sleep(delay)
