"""Blocking database calls from agents: off the event loop, waited out while the database
is away (core/retry.py: backoff 0.5, 1, 2, 5, 10 s, then every 10 s). The agent's partition
waits and nothing is dropped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from core.retry import retry_in_thread

T = TypeVar("T")


async def with_retry(call: Callable[..., T], *args: Any, who: str, what: str = "write") -> T:
    """``call(*args)`` in a thread until it succeeds; ``who``/``what`` name it in the log
    ("projection: database read failed, retrying in 2.0s")."""
    return await retry_in_thread(call, *args, what=f"{who}: database {what}")
