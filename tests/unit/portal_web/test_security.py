"""Authorisation, CSRF, sessions and throttles of the web pages (issue 7's security tests)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from portal.web.security import hash_password, verify_password
from tests.unit.portal_web.conftest import (
    ALICE,
    BOB,
    CAROL,
    YEAR,
    World,
    csrf_of,
    new_client,
    sign_in,
    staff_sign_in,
)

# Every taxpayer route with an object id in it, filled with Bob's objects.
TAXPAYER_GETS = (
    "/cabinet/returns/{year}",
    "/cabinet/returns/{year}/lines/0",
    "/cabinet/returns/{year}/disagree",
    "/cabinet/returns/{year}/payment",
    "/cabinet/returns/{year}/history",
    "/cabinet/returns/{year}/decisions/{decision}?s=x",
    "/cabinet/receipts/{receipt}",
    "/cabinet/receipts/{receipt}?download=1",
    "/cabinet/inbox/{message}",
)
TAXPAYER_POSTS = (
    "/cabinet/returns/{year}/agree",
    "/cabinet/returns/{year}/disagree",
    "/cabinet/returns/{year}/pay",
    "/cabinet/returns/{year}/survey",
)
STAFF_GETS = (
    "/dashboard",
    "/dashboard/breakdowns",
    "/dashboard/disputes",
    "/dashboard/feeds",
    "/dashboard/planner",
    "/dashboard/export/funnel.csv",
    "/dashboard/export/disputes.csv",
)


def _bob_with_receipt_and_message(world: World, client: TestClient) -> dict[str, str]:
    """Bob agrees (refund paid) so he has a decision, a receipt and an inbox message."""
    from storage.notifier.inbox import InboxMessage

    sign_in(client, world, BOB)
    page = client.get(f"/cabinet/returns/{YEAR}")
    r = client.post(
        f"/cabinet/returns/{YEAR}/agree", data={"version": "1", "csrf_token": csrf_of(page.text)}
    )
    decision = re.search(r"/decisions/([^?\"]+)", str(r.url) + r.text)
    world.apply_sent_decisions()
    world.settle_all()
    receipts = world.lifecycle.payments(BOB)
    with world.sessions() as session, session.begin():
        message = InboxMessage(
            pinfl=BOB, dedupe_key="k1", notice_id="n1", kind="first_notice", tax_year=YEAR,
            return_id="r", version=1, language="ru", title="Bob's notice", body="secret",
            verification_code="ABCD-EFGH", notice={}, created_at=world.clock.now(),
        )  # fmt: skip
        session.add(message)
        session.flush()
        message_id = message.id
    return {
        "year": str(YEAR),
        "decision": decision.group(1) if decision else "dec-x",
        "receipt": receipts[0].payment_id,
        "message": str(message_id),
    }


def test_a_taxpayer_reaches_none_of_another_taxpayers_objects(world: World) -> None:
    with new_client(world) as bob:
        ids = _bob_with_receipt_and_message(world, bob)
        assert bob.get(f"/cabinet/receipts/{ids['receipt']}").status_code == 200
        assert bob.get(f"/cabinet/inbox/{ids['message']}").status_code == 200
    # Carol has no return at all; Alice has her own 2026 return, so Bob's objects are
    # tried under both (a year Alice has, and one she has not).
    with new_client(world) as alice:
        sign_in(alice, world, ALICE)
        for route in TAXPAYER_GETS:
            if "{year}" in route and "{decision}" not in route:
                continue  # Alice's own year: her return, checked below by content
            r = alice.get(route.format(**ids))
            assert r.status_code == 404, (route, r.status_code)
            assert "Barno" not in r.text and "secret" not in r.text
        page = alice.get(f"/cabinet/returns/{YEAR}")
        assert "Barno" not in page.text and "TUI-1" not in page.text  # Alice sees her own
        token = csrf_of(page.text)
        for route in TAXPAYER_GETS + TAXPAYER_POSTS:
            other_year = route.replace("{year}", "2025")
            if "{year}" not in route:
                continue
            r = (
                alice.post(other_year.format(**ids), data={"csrf_token": token, "version": "1"})
                if route in TAXPAYER_POSTS
                else alice.get(other_year.format(**ids))
            )
            assert r.status_code == 404, (other_year, r.status_code)
    with new_client(world) as carol:  # no phone, no Telegram: no code, no way in
        page = carol.get("/sign-in")
        r = carol.post("/sign-in", data={"pinfl": CAROL, "csrf_token": csrf_of(page.text)})
        assert r.url.path == "/sign-in/code"
        assert carol.get(f"/cabinet/returns/{YEAR}", follow_redirects=False).status_code == 303


def test_pages_need_a_signed_in_taxpayer(app_client: TestClient) -> None:
    r = app_client.get(f"/cabinet/returns/{YEAR}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/sign-in")
    r = app_client.get("/dashboard", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/staff/sign-in")


def test_a_staff_page_as_a_taxpayer_is_403_and_the_cabinet_as_staff_too(world: World) -> None:
    with new_client(world) as client:
        sign_in(client, world, ALICE)
        for route in (*STAFF_GETS, "/staff/api-keys"):
            assert client.get(route).status_code == 403, route
    with new_client(world) as client:
        staff_sign_in(client, "ana")
        assert client.get("/cabinet").status_code == 403
        assert client.get("/staff/api-keys").status_code == 403  # analysts manage no keys
        for route in STAFF_GETS:
            assert client.get(route).status_code == 200, route


def test_a_form_without_its_csrf_token_is_403(world: World) -> None:
    with new_client(world) as client:
        assert client.post("/sign-in", data={"pinfl": ALICE}).status_code == 403
        sign_in(client, world, ALICE)
        posts = (
            *(p.format(year=YEAR) for p in TAXPAYER_POSTS),
            "/cabinet/inbox/verify",
            "/cabinet/telegram/link",
            "/cabinet/telegram/unlink",
            "/sign-out",
        )
        for route in posts:
            assert client.post(route, data={"version": "1"}).status_code == 403, route
            assert client.post(route, data={"csrf_token": "forged"}).status_code == 403, route
        assert world.producer.sent == []  # nothing was decided
        assert client.get("/cabinet").status_code == 200  # still signed in
    with new_client(world) as client:
        staff_sign_in(client, "sup")
        for route in ("/staff/api-keys", "/staff/api-keys/0123456789abcdef/revoke"):
            assert client.post(route, data={"registry": "payroll"}).status_code == 403


def test_guessing_codes_is_throttled(world: World) -> None:
    with new_client(world) as client:
        page = client.get("/sign-in")
        r = client.post("/sign-in", data={"pinfl": ALICE, "csrf_token": csrf_of(page.text)})
        token = csrf_of(r.text)
        right = world.sms_code(ALICE)
        wrong = f"{(int(right) + 1) % 1_000_000:06d}"
        statuses = [
            client.post("/sign-in/code", data={"code": wrong, "csrf_token": token}).status_code
            for _ in range(12)
        ]
        assert statuses[0] == 400
        assert 429 in statuses  # the code is burnt after the notifier's 5 attempts
        assert statuses[-1] == 429  # and the PINFL is throttled after 10 failures
        r = client.post("/sign-in/code", data={"code": right, "csrf_token": token})
        assert r.status_code == 429  # not even the right code gets in now
        assert client.get("/cabinet", follow_redirects=False).status_code == 303


def test_sign_in_rotates_the_session_and_sets_safe_cookies(world: World) -> None:
    with new_client(world) as client:
        page = client.get("/sign-in")
        before = client.cookies.get("proactax_session")
        r = client.post(
            "/sign-in", data={"pinfl": ALICE, "csrf_token": csrf_of(page.text)},
            follow_redirects=False,
        )  # fmt: skip
        r = client.get("/sign-in/code")
        code = world.sms_code(ALICE)
        r = client.post(
            "/sign-in/code", data={"code": code, "csrf_token": csrf_of(r.text)},
            follow_redirects=False,
        )  # fmt: skip
        assert r.status_code == 303 and r.headers["location"] == "/cabinet"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        after = client.cookies.get("proactax_session")
        assert after and after != before
        # The pre-sign-in session is gone: replaying its cookie gets no cabinet.
        with new_client(world) as attacker:
            attacker.cookies.set("proactax_session", before or "")
            assert attacker.get("/cabinet", follow_redirects=False).status_code == 303
        # Sign-out ends the session.
        page = client.get("/cabinet")
        client.post("/sign-out", data={"csrf_token": csrf_of(page.text)})
        assert client.get("/cabinet", follow_redirects=False).status_code == 303


def test_secure_cookies_by_default(world: World) -> None:
    import dataclasses

    world.settings = dataclasses.replace(world.settings, portal_cookie_secure=True)
    with new_client(world) as client:
        r = client.get("/sign-in")
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("__Host-proactax=") and "Secure" in cookie


def test_staff_passwords_and_throttle(world: World) -> None:
    stored = hash_password("a long enough password", n=2**10)
    assert stored.startswith("scrypt$") and "a long enough" not in stored
    assert verify_password(stored, "a long enough password")
    assert not verify_password(stored, "a long enough passwore")
    with new_client(world) as client:
        token = csrf_of(client.get("/staff/sign-in").text)
        statuses = [
            client.post(
                "/staff/sign-in", data={"username": "sup", "password": "nope", "csrf_token": token}
            ).status_code
            for _ in range(6)
        ]
        assert statuses[:5] == [400] * 5 and statuses[5] == 429


def test_no_open_redirects(app_client: TestClient) -> None:
    for target in ("https://evil.example", "//evil.example", "/\\evil"):
        r = app_client.get(f"/lang/ru?next={target}", follow_redirects=False)
        assert r.headers["location"] == "/"
