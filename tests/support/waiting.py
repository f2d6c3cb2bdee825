"""Wait for a condition with a deadline: the only way tests wait."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class ConditionTimeout(AssertionError):
    pass


def wait_until(
    probe: Callable[[], T],
    *,
    timeout_s: float,
    interval_s: float = 0.2,
    what: str = "condition",
    describe: Callable[[], str] | None = None,
) -> T:
    """Call ``probe`` until it returns something truthy; fail at the deadline, saying why."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = describe() if describe else repr(value)
            raise ConditionTimeout(f"{what} not met within {timeout_s}s: {detail}")
        time.sleep(interval_s)


async def await_until(
    probe: Callable[[], Awaitable[T]],
    *,
    timeout_s: float,
    interval_s: float = 0.2,
    what: str = "condition",
) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise ConditionTimeout(f"{what} not met within {timeout_s}s (last: {value!r})")
        await asyncio.sleep(interval_s)
