"""core.retry: the one retry-with-backoff loop (agents, the lifecycle consumer, the notifier)."""

from __future__ import annotations

import asyncio

import pytest

from core.retry import RETRY_DELAYS_S, RetryStopped, backoff_delay, retry_in_thread


class Flaky:
    """Fails ``failures`` times with ``error``, then answers."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self, value: int) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return value * 2


def test_the_backoff_grows_then_stays_at_its_longest() -> None:
    assert [backoff_delay(n) for n in range(7)] == [0.5, 1.0, 2.0, 5.0, 10.0, 10.0, 10.0]
    assert backoff_delay(0) == RETRY_DELAYS_S[0]


async def test_a_failing_call_is_tried_again_until_it_succeeds() -> None:
    call = Flaky(1, OSError("database away"))
    assert await retry_in_thread(call, 21, what="test: database write") == 42
    assert call.calls == 2


async def test_an_error_it_does_not_retry_propagates_at_once() -> None:
    call = Flaky(1, ValueError("a bug"))
    with pytest.raises(ValueError, match="a bug"):
        await retry_in_thread(call, 1, what="test", retry_on=(OSError,))
    assert call.calls == 1


async def test_a_failure_after_stop_gives_up_without_waiting() -> None:
    stop = asyncio.Event()
    stop.set()
    call = Flaky(5, OSError("database away"))
    with pytest.raises(RetryStopped):
        await asyncio.wait_for(retry_in_thread(call, 1, what="test", stop=stop), timeout=0.4)
    assert call.calls == 1
