"""Sign-in throttles that hold (issue 14, Medium 1-3): counted first and atomically (also
under concurrent requests), progressive delays per (PINFL or account, client) instead of
locks, the client from X-Forwarded-For only behind a trusted proxy, IPv6 by /64, the
owner's code out of an attacker's reach, the same answer for every PINFL, one code per
PINFL a minute."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import datetime as dt
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from portal.app import create_app
from portal.web.clients import client_address
from storage.notifier.sms import SmsMessage
from storage.portal.throttles import Backoff, ThrottleRepository
from tests.unit.portal_web.conftest import ALICE, BOB, CAROL, PASSWORD, World, csrf_of, new_client

ATTACKER = "203.0.113.66"
OWNER = "198.51.100.20"
BACKOFF = Backoff(
    free=3,
    base=dt.timedelta(seconds=2),
    cap=dt.timedelta(seconds=60),
    idle=dt.timedelta(hours=1),
)


def test_backoff_doubles_up_to_its_cap() -> None:
    waits = [BACKOFF.delay(n).total_seconds() for n in range(1, 10)]
    assert waits == [0, 0, 2, 4, 8, 16, 32, 60, 60]


def test_attempts_are_counted_first_then_refused_for_a_growing_while(world: World) -> None:
    throttles, now = ThrottleRepository(world.sessions), world.clock.now()
    verdicts = [throttles.attempt("k", now, BACKOFF) for _ in range(5)]
    assert [v.allowed for v in verdicts] == [True, True, True, False, False]
    assert verdicts[3].retry_after == dt.timedelta(seconds=2)
    assert throttles.attempts("k") == 3  # a refused attempt is not counted...
    later = now + dt.timedelta(seconds=1)
    assert throttles.attempt("k", later, BACKOFF).retry_after == dt.timedelta(seconds=1)
    # ...and does not prolong the wait: no lock anyone can renew for ever by trying
    after = now + dt.timedelta(seconds=2)
    assert throttles.attempt("k", after, BACKOFF).allowed  # the 4th, then 4 s to wait
    refused = throttles.attempt("k", after + dt.timedelta(seconds=3), BACKOFF)
    assert not refused.allowed and refused.retry_after == dt.timedelta(seconds=1)
    # an hour without attempts: forgotten
    fresh = throttles.attempt("k", after + dt.timedelta(hours=2), BACKOFF)
    assert fresh.allowed and fresh.attempts == 1
    throttles.clear("k")
    assert throttles.attempts("k") == 0


def concurrent_attempts(world: World, n: int, backoff: Backoff) -> int:
    """``n`` threads attempt one key at the same instant; how many were let through."""
    throttles, now = ThrottleRepository(world.sessions), world.clock.now()
    barrier = __import__("threading").Barrier(n)

    def one(_: int) -> bool:
        barrier.wait()
        return throttles.attempt("race", now, backoff).allowed

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        allowed = sum(pool.map(one, range(n)))
    assert throttles.attempts("race") == backoff.free  # every allowed one counted, no more
    return allowed


def test_concurrent_attempts_never_exceed_the_free_ones(world: World) -> None:
    assert concurrent_attempts(world, 40, dataclasses.replace(BACKOFF, free=10)) == 10


# --- through the pages, concurrently -----------------------------------------------------


@contextlib.asynccontextmanager
async def web(world: World, address: str = ATTACKER, **changes: Any) -> AsyncIterator[Any]:
    """The real app in this event loop (its lifespan run), reached over an ASGI transport
    from ``address``: requests really overlap (the routes' database calls run in threads)."""
    settings = dataclasses.replace(world.settings, **changes)
    app = create_app(settings, producer=world.producer, clock=world.clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        yield lambda: httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")


async def _code_form(client: httpx.AsyncClient, pinfl: str) -> str:
    page = await client.get("/sign-in")
    r = await client.post("/sign-in", data={"pinfl": pinfl, "csrf_token": csrf_of(page.text)})
    assert r.status_code == 303, r.text
    r = await client.get(r.headers["location"])
    return csrf_of(r.text)


def concurrent_code_guesses(world: World, n: int) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        async with web(world, sign_in_code_max_attempts=1000) as connect:
            async with connect() as client:
                token = await _code_form(client, ALICE)
                right = world.sms_code(ALICE)
                wrong = f"{(int(right) + 1) % 1_000_000:06d}"
                return list(
                    await asyncio.gather(
                        *(
                            client.post("/sign-in/code", data={"code": wrong, "csrf_token": token})
                            for _ in range(n)
                        )
                    )
                )

    return asyncio.run(run())


def test_forty_concurrent_code_guesses_evaluate_at_most_the_limit(world: World) -> None:
    answers = concurrent_code_guesses(world, 40)
    evaluated = [r for r in answers if r.status_code == 400]
    throttled = [r for r in answers if r.status_code == 429]
    assert len(evaluated) == world.settings.portal_code_max_failures == 10
    assert len(throttled) == 30 and all(int(r.headers["retry-after"]) >= 1 for r in throttled)


def concurrent_staff_passwords(world: World, n: int) -> list[int]:
    async def run() -> list[int]:
        async with web(world) as connect:
            async with connect() as client:
                token = csrf_of((await client.get("/staff/sign-in")).text)
                answers = await asyncio.gather(
                    *(
                        client.post(
                            "/staff/sign-in",
                            data={"username": "sup", "password": "nope", "csrf_token": token},
                        )
                        for _ in range(n)
                    )
                )
                return [r.status_code for r in answers]

    return asyncio.run(run())


def test_twenty_concurrent_staff_passwords_evaluate_at_most_the_limit(world: World) -> None:
    statuses = concurrent_staff_passwords(world, 20)
    assert statuses.count(400) == world.settings.portal_staff_max_failures == 5
    assert statuses.count(429) == 15


def concurrent_code_requests(world: World, n: int) -> int:
    """``n`` visitors ask for Alice's code at once: how many SMS went out."""

    async def run() -> None:
        async with web(world) as connect:
            clients = [connect() for _ in range(n)]
            tokens = [csrf_of((await c.get("/sign-in")).text) for c in clients]
            answers = await asyncio.gather(
                *(
                    c.post("/sign-in", data={"pinfl": ALICE, "csrf_token": t})
                    for c, t in zip(clients, tokens, strict=True)
                )
            )
            assert {r.status_code for r in answers} == {303}
            assert {r.headers["location"] for r in answers} == {
                "/sign-in/code?notice=signin.code_sent"
            }
            for c in clients:
                await c.aclose()

    asyncio.run(run())
    with world.sessions() as session:
        return session.query(SmsMessage).filter_by(pinfl=ALICE).count()


def test_one_code_per_pinfl_a_minute_also_under_concurrent_requests(world: World) -> None:
    assert concurrent_code_requests(world, 12) == 1


# --- lock-outs are no weapon ---------------------------------------------------------------


def test_an_attacker_elsewhere_neither_throttles_nor_burns_the_owners_code(world: World) -> None:
    with new_client(world, OWNER) as owner, new_client(world, ATTACKER) as attacker:
        page = owner.get("/sign-in")
        r = owner.post("/sign-in", data={"pinfl": ALICE, "csrf_token": csrf_of(page.text)})
        owner_token, code = csrf_of(r.text), world.sms_code(ALICE)
        page = attacker.get("/sign-in")
        r = attacker.post("/sign-in", data={"pinfl": ALICE, "csrf_token": csrf_of(page.text)})
        token = csrf_of(r.text)
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        statuses = [
            attacker.post("/sign-in/code", data={"code": wrong, "csrf_token": token}).status_code
            for _ in range(15)
        ]
        assert statuses[-1] == 429
        # the owner's code was sent for the owner's client: still live, still theirs
        r = owner.post("/sign-in/code", data={"code": code, "csrf_token": owner_token})
        assert r.status_code == 200 and r.url.path == "/cabinet", r.text


def test_staff_are_not_locked_out_by_failures_from_another_client(world: World) -> None:
    with new_client(world, ATTACKER) as attacker:
        token = csrf_of(attacker.get("/staff/sign-in").text)
        for _ in range(8):
            attacker.post(
                "/staff/sign-in", data={"username": "sup", "password": "x", "csrf_token": token}
            )
        r = attacker.post(
            "/staff/sign-in", data={"username": "sup", "password": PASSWORD, "csrf_token": token}
        )
        assert r.status_code == 429  # this client waits, even with the right password...
    with new_client(world, OWNER) as owner:
        token = csrf_of(owner.get("/staff/sign-in").text)
        r = owner.post(
            "/staff/sign-in", data={"username": "sup", "password": PASSWORD, "csrf_token": token}
        )
        assert r.status_code == 200 and r.url.path == "/dashboard"  # ...the owner does not


def test_a_wait_ends_by_itself(world: World) -> None:
    with new_client(world, ATTACKER) as client:
        token = csrf_of(client.get("/staff/sign-in").text)

        def try_password(password: str) -> int:
            data = {"username": "sup", "password": password, "csrf_token": token}
            return client.post("/staff/sign-in", data=data).status_code

        assert [try_password("x") for _ in range(6)] == [400] * 5 + [429]
        world.clock.advance(dt.timedelta(seconds=world.settings.portal_throttle_delay_s))
        assert try_password(PASSWORD) == 200


def test_many_pinfls_from_one_address_slow_that_address_only(world: World) -> None:
    """50 sign-ins for random PINFLs from one address; the next real user elsewhere is
    untouched, and the address itself waits seconds, not 15 minutes."""
    settings = dataclasses.replace(world.settings, portal_address_max_failures=50)
    world.settings = settings
    with new_client(world, ATTACKER) as attacker:
        token = csrf_of(attacker.get("/sign-in").text)
        for i in range(50):
            r = attacker.post("/sign-in", data={"pinfl": f"{i:014d}", "csrf_token": token})
            assert r.status_code == 200, i
        r = attacker.post("/sign-in", data={"pinfl": BOB, "csrf_token": token})
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) <= settings.portal_throttle_delay_s
    with new_client(world, OWNER) as user:
        token = csrf_of(user.get("/sign-in").text)
        assert user.post("/sign-in", data={"pinfl": BOB, "csrf_token": token}).status_code == 200


# --- the client ------------------------------------------------------------------------------


def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    assert client_address("203.0.113.5", ["1.2.3.4"], "") == "203.0.113.5"
    assert client_address("203.0.113.5", ["1.2.3.4"], "10.0.0.0/8") == "203.0.113.5"
    assert client_address("10.0.0.2", ["1.2.3.4"], "10.0.0.0/8") == "1.2.3.4"
    # the client may send its own X-Forwarded-For: only the hop our proxy added counts
    assert client_address("10.0.0.2", ["6.6.6.6, 1.2.3.4"], "10.0.0.0/8") == "1.2.3.4"
    assert client_address("10.0.0.2", ["1.2.3.4, 10.0.0.9"], "10.0.0.0/8") == "1.2.3.4"
    assert client_address("10.0.0.2", ["junk"], "10.0.0.0/8") == "10.0.0.2"


def test_ipv6_clients_are_grouped_by_their_64() -> None:
    a = client_address("2001:db8:aa:bb:1::1", [], "")
    b = client_address("2001:db8:aa:bb:ffff::2", [], "")
    c = client_address("2001:db8:aa:bc::1", [], "")
    assert a == b == "2001:db8:aa:bb::/64" and c != a
    assert client_address("::ffff:192.0.2.1", [], "") == "192.0.2.1"


def test_the_pages_use_the_forwarded_client_behind_a_trusted_proxy(world: World) -> None:
    world.settings = dataclasses.replace(
        world.settings, portal_trusted_proxies="192.0.2.0/24", portal_staff_max_failures=1
    )
    with new_client(world, "192.0.2.10") as proxy:
        token = csrf_of(proxy.get("/staff/sign-in").text)

        def post(forwarded: str) -> int:
            return proxy.post(
                "/staff/sign-in",
                data={"username": "sup", "password": "x", "csrf_token": token},
                headers={"X-Forwarded-For": forwarded},
            ).status_code

        assert post("2001:db8::1") == 400
        assert post("2001:db8::2") == 429  # the same /64
        assert post("2001:db8:0:1::1") == 400  # another /64, another client


# --- no enumeration --------------------------------------------------------------------------


def test_sign_in_answers_the_same_whether_or_not_the_pinfl_is_reachable(world: World) -> None:
    def answer(pinfl: str) -> tuple[int, str, str]:
        with new_client(world) as client:
            page = client.get("/sign-in")
            r = client.post(
                "/sign-in",
                data={"pinfl": pinfl, "csrf_token": csrf_of(page.text)},
                follow_redirects=False,
            )
            form = client.get(r.headers["location"])
            body = (
                re.sub(r'value="[^"]+"', "", form.text)
                .replace(pinfl[:3], "")
                .replace(pinfl[-3:], "")
            )
            return r.status_code, r.headers["location"], body

    reachable = answer(ALICE)  # a phone: an SMS goes out
    again = answer(ALICE)  # within the minute: nothing goes out
    unreachable = answer(CAROL)  # no phone, no chat
    unknown = answer("12345678901234")  # nobody
    assert reachable == again == unreachable == unknown
    with world.sessions() as session:
        assert session.query(SmsMessage).count() == 1


@pytest.mark.parametrize("count", [50])
def test_cookie_less_visits_write_no_session(world: World, count: int) -> None:
    from storage.portal.sessions import PortalSession

    with new_client(world) as client:
        for _ in range(count):
            client.cookies.clear()
            assert client.get("/sign-in").status_code == 200
            assert client.get("/").status_code == 200
    with world.sessions() as session:
        assert session.query(PortalSession).count() == 0


def test_forgotten_keys_are_purged_but_waiting_ones_are_kept(world: World) -> None:
    throttles, now = ThrottleRepository(world.sessions), world.clock.now()
    day = dt.timedelta(days=1)
    throttles.attempt("waiting", now, dataclasses.replace(BACKOFF, free=1, base=day, cap=day))
    throttles.attempt("idle", now, BACKOFF)
    later = now + dt.timedelta(hours=2)
    assert throttles.purge_idle(later, BACKOFF.idle) == 1
    assert throttles.attempts("idle") == 0 and throttles.attempts("waiting") == 1
