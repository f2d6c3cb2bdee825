"""Sign-in throttles under concurrency on SQLite and PostgreSQL (issue 14, Medium 1 and 3):
SQLite ignores ``FOR UPDATE``, so only an atomic count holds on both. The same tests as
tests/unit/portal_web/test_throttles.py, on each database."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import threading

import pytest

from notifier import codes
from storage.notifier.sign_in_codes import SignInCodes
from tests.unit.portal_web import test_throttles
from tests.unit.portal_web.conftest import ALICE, World, world  # noqa: F401


@pytest.fixture
def portal_db_url(database_url: str) -> str:
    return database_url


def test_concurrent_attempts_never_exceed_the_free_ones(world: World) -> None:  # noqa: F811
    backoff = dataclasses.replace(test_throttles.BACKOFF, free=10)
    assert test_throttles.concurrent_attempts(world, 40, backoff) == 10


def test_forty_concurrent_code_guesses(world: World) -> None:  # noqa: F811
    answers = test_throttles.concurrent_code_guesses(world, 40)
    assert [r.status_code for r in answers].count(400) == 10
    assert [r.status_code for r in answers].count(429) == 30


def test_twenty_concurrent_staff_passwords(world: World) -> None:  # noqa: F811
    statuses = test_throttles.concurrent_staff_passwords(world, 20)
    assert statuses.count(400) == 5 and statuses.count(429) == 15


def test_one_code_a_minute_under_concurrent_requests(world: World) -> None:  # noqa: F811
    assert test_throttles.concurrent_code_requests(world, 12) == 1


def test_a_code_takes_at_most_its_attempts_even_concurrently(world: World) -> None:  # noqa: F811
    """The notifier's own per-code limit (5 tries) is counted atomically too."""
    store, now, secret = SignInCodes(world.sessions), world.clock.now(), b"k"
    store.issue(ALICE, codes.sign_in_code_hash(secret, ALICE, "123456"), "sms", now,
                dt.timedelta(minutes=5), "client")  # fmt: skip
    barrier = threading.Barrier(20)

    def guess(i: int) -> str:
        barrier.wait()
        return store.verify(ALICE, codes.sign_in_code_hash(secret, ALICE, f"{i:06d}"), now, 5,
                            "client")  # fmt: skip

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(guess, range(20)))
    assert outcomes.count("wrong") == 4 and outcomes.count("too_many") == 1
    assert outcomes.count("none") == 15
