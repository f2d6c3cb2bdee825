"""Hostile users of the portal: a walk over every route with another taxpayer's ids,
session fixation, and SQL-injection (and other hostile) probes in every input.

The walk fails when the app gains a route the table below does not classify, so a new
route cannot ship without saying how it keeps one citizen out of another's data.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from portal.app import create_app
from portal.services.api_keys import ApiKeyService
from storage.api_keys import ApiKeyRepository
from tests.unit.portal_web.conftest import (
    ALICE,
    BOB,
    YEAR,
    World,
    csrf_of,
    new_client,
    sign_in,
    staff_sign_in,
)
from tests.unit.portal_web.test_security import _bob_with_receipt_and_message

BOB_MARKS = ("Barno", "Yusupova", BOB, "+998907654321", "907654321", "TUI-1", "secret")

# How each route keeps one user's objects from another (method, path) -> kind:
#   public   no user object (pages before sign-in, docs, health, static files)
#   own      acts on the signed-in user's own data only (no object id in the request)
#   object   names an object by id: another user's id must be 404
#   year     names the user's own return by year: the owner comes from the session
#   staff    STC staff only: a taxpayer gets 403
#   registry the integrator's API key is for one registry: another registry's is 403
ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/openapi.json"): "public",
    ("GET", "/docs"): "public",
    ("GET", "/docs/oauth2-redirect"): "public",
    ("GET", "/redoc"): "public",
    ("GET", "/healthz"): "public",
    ("GET", "/"): "public",
    ("GET", "/sign-in"): "public",
    ("POST", "/sign-in"): "public",
    ("GET", "/sign-in/code"): "public",
    ("POST", "/sign-in/code"): "public",
    ("GET", "/staff/sign-in"): "public",
    ("POST", "/staff/sign-in"): "public",
    ("GET", "/lang/{lang}"): "public",
    ("GET", "/sign-in/{name}"): "public",  # starts a sign-in at an identity provider
    ("GET", "/sign-in/{name}/callback"): "public",  # state bound to the browser session
    ("GET", "/verify/{code}"): "public",  # genuine or not, date, amount: no name, no PINFL
    ("GET", "/static"): "public",
    ("GET", "/api-docs-assets"): "public",  # Swagger UI and ReDoc, served from the package
    ("POST", "/sign-out"): "own",
    ("GET", "/cabinet"): "own",
    ("GET", "/cabinet/inbox"): "own",
    ("POST", "/cabinet/inbox/verify"): "own",
    ("GET", "/cabinet/telegram"): "own",
    ("POST", "/cabinet/telegram/link"): "own",
    ("POST", "/cabinet/telegram/unlink"): "own",
    ("GET", "/cabinet/returns/{year}"): "year",
    ("GET", "/cabinet/returns/{year}/disagree"): "year",
    ("POST", "/cabinet/returns/{year}/disagree"): "year",
    ("POST", "/cabinet/returns/{year}/agree"): "year",
    ("POST", "/cabinet/returns/{year}/pay"): "year",
    ("GET", "/cabinet/returns/{year}/payment"): "year",
    ("GET", "/cabinet/returns/{year}/history"): "year",
    ("POST", "/cabinet/returns/{year}/survey"): "year",
    ("GET", "/cabinet/returns/{year}/lines/{index}"): "object",
    ("GET", "/cabinet/returns/{year}/decisions/{decision_id}"): "object",
    ("GET", "/cabinet/receipts/{receipt_id}"): "object",
    ("GET", "/cabinet/receipts/{receipt_id}/document.pdf"): "object",
    ("GET", "/cabinet/returns/{year}/versions/{version}/document.pdf"): "year",
    ("GET", "/cabinet/inbox/{message_id}"): "object",
    ("GET", "/dashboard"): "staff",
    ("GET", "/dashboard/breakdowns"): "staff",
    ("GET", "/dashboard/disputes"): "staff",
    ("GET", "/dashboard/feeds"): "staff",
    ("GET", "/dashboard/planner"): "staff",
    ("GET", "/dashboard/export/{name}.csv"): "staff",
    ("GET", "/staff/api-keys"): "staff",
    ("POST", "/staff/api-keys"): "staff",
    ("POST", "/staff/api-keys/{key_id}/revoke"): "staff",
    ("GET", "/metrics"): "public",  # aggregates only; PROACTAX_PORTAL_METRICS_TOKEN guards it
    ("POST", "/api/v1/registries/{registry}/events"): "registry",
    ("POST", "/api/v1/registries/{registry}/period-closed"): "registry",
    ("GET", "/api/v1/registries/{registry}/events/{event_id}"): "registry",
    ("GET", "/api/v1/registries/{registry}/disputes"): "registry",
    ("POST", "/api/v1/registries/{registry}/disputes/{dispute_id}/response"): "registry",
    ("POST", "/api/v1/sandbox/{registry}/taxpayers"): "registry",
    ("POST", "/api/v1/sandbox/{registry}/disputes"): "registry",
}


def app_routes(app: Any) -> set[tuple[str, str]]:
    """Every (method, path) the app answers, through included routers and mounts."""

    def walk(routes: Any, prefix: str) -> Iterator[tuple[str, str]]:
        for route in routes:
            context = getattr(route, "include_context", None)
            if context is not None:
                yield from walk(context.included_router.routes, prefix + context.prefix)
                continue
            methods = getattr(route, "methods", None) or {"GET"}  # a mount serves GETs
            for method in methods - {"HEAD"}:
                yield method, prefix + route.path

    return set(walk(app.routes, ""))


def test_every_route_is_classified(world: World) -> None:
    routes = app_routes(create_app(world.settings, producer=world.producer, clock=world.clock))
    assert len(routes) >= 40
    assert routes - ROUTES.keys() == set(), "new routes: say how they keep users apart"
    assert ROUTES.keys() - routes == set(), "routes in the table the app no longer has"


def _fill(path: str, ids: dict[str, str]) -> str:
    return path.format(
        year=ids["year"], index="0", decision_id=ids["decision"], receipt_id=ids["receipt"],
        message_id=ids["message"], name="funnel", key_id="0123456789abcdef", lang="ru",
        registry="rental", version="1", code="unknown-code", event_id="e-1", dispute_id="d-1",
    ).replace("/static", "/static/missing.css")  # fmt: skip


def _payments(world: World, pinfl: str) -> list[tuple[Any, ...]]:
    return [(p.payment_id, p.status, p.amount_tiyin) for p in world.lifecycle.payments(pinfl)]


def test_every_route_with_another_taxpayers_ids(world: World) -> None:
    with new_client(world) as bob:
        ids = _bob_with_receipt_and_message(world, bob)
    bob_state = _payments(world, BOB)
    keys = ApiKeyService(ApiKeyRepository(world.sessions), world.clock)
    payroll_key = keys.create("payroll", label="walk").token
    with new_client(world) as alice:
        sign_in(alice, world, ALICE)
        token = csrf_of(alice.get("/cabinet").text)
        r = alice.get(f"/cabinet/returns/{YEAR}/lines/99")
        assert r.status_code == 404  # an index beyond her own return's lines
        seen: dict[str, int] = {}
        for (method, path), kind in sorted(ROUTES.items(), key=lambda r: r[0][1] == "/sign-out"):
            url = _fill(path, ids)
            if kind == "registry":
                r = alice.request(
                    method, url, content=b"{}", headers={"Authorization": f"Bearer {payroll_key}"}
                )
                assert r.status_code == 403, (url, r.status_code, r.text)
            elif method == "GET":
                r = alice.get(url, follow_redirects=False)
            else:
                r = alice.post(
                    url, data={"csrf_token": token, "version": "1", "code": "000000"},
                    follow_redirects=False,
                )  # fmt: skip
            seen[f"{method} {path}"] = r.status_code
            assert r.status_code < 500, (method, url, r.status_code)
            leaked = [m for m in BOB_MARKS if m in r.text or m in r.headers.get("location", "")]
            assert leaked == [], (method, url, leaked)
            if kind == "object" and "{index}" not in path:
                assert r.status_code == 404, (method, url, r.status_code, r.text[-800:])
            if kind == "staff":
                assert r.status_code == 403, (method, url, r.status_code)
    # Nothing Alice did reached Bob's return: his payments are as they were and every
    # decision sent carries Alice's PINFL only.
    assert _payments(world, BOB) == bob_state
    for topic, key, value in world.producer.sent:
        assert BOB.encode() not in key and BOB.encode() not in value, topic
    assert len(seen) == len(ROUTES)


def _session_cookies_set(client: TestClient) -> list[str]:
    """Session ids the server set on this client (not the ones planted by hand)."""
    return [c.value or "" for c in client.cookies.jar if c.name == "proactax_session" and c.domain]


def test_a_planted_session_id_does_not_survive_sign_in(world: World) -> None:
    """Session fixation: the attacker gets an anonymous session, plants its cookie in the
    victim's browser, the victim signs in; the attacker's cookie must get nothing."""
    with new_client(world) as attacker:
        attacker.get("/sign-in")
        planted = attacker.cookies.get("proactax_session")
        assert planted
        with new_client(world) as victim:
            victim.cookies.set("proactax_session", planted)
            sign_in(victim, world, ALICE)
            assert planted not in _session_cookies_set(victim)
            assert victim.get("/cabinet").status_code == 200
        attacker.cookies.clear()
        attacker.cookies.set("proactax_session", planted)
        r = attacker.get("/cabinet", follow_redirects=False)
        assert r.status_code == 303 and "Alisher" not in r.text
    with new_client(world) as victim:  # an id the attacker made up is not adopted either
        victim.cookies.set("proactax_session", "attacker-chosen-session-id")
        sign_in(victim, world, BOB)  # another victim: Alice's code cannot be re-sent at once
        assert "attacker-chosen-session-id" not in _session_cookies_set(victim)


PROBES = (
    "' OR '1'='1",
    "1; DROP TABLE people;--",
    "x' UNION SELECT pinfl, phone FROM people--",
    '"; SELECT * FROM sqlite_master; --',
    "%27%20OR%201%3D1",
    "\x00",
    "²",  # a digit to str.isdigit(), not to int()
    "9" * 40,
    "-1",
    "<script>alert(1)</script>",
)


@pytest.fixture
def signed_in(world: World) -> Iterator[tuple[TestClient, str]]:
    with new_client(world) as client:
        sign_in(client, world, ALICE)
        yield client, csrf_of(client.get("/cabinet").text)


def _no_leak(r: Any, where: str) -> None:
    assert r.status_code < 500, (where, r.status_code, r.text[:300])
    leaked = [m for m in BOB_MARKS if m in r.text]
    assert leaked == [], (where, leaked)
    assert "CREATE TABLE" not in r.text and "sqlalchemy" not in r.text.lower(), where


def _people_and_returns(world: World) -> tuple[int, int]:
    from sqlalchemy import text

    with world.sessions() as session:
        people = session.execute(text("SELECT count(*) FROM people")).scalar_one()
        returns = session.execute(text("SELECT count(*) FROM return_versions")).scalar_one()
    return people, returns


def test_injection_probes_in_every_taxpayer_input(world: World, signed_in: Any) -> None:
    client, token = signed_in
    before = _people_and_returns(world)
    for raw in PROBES:
        probe = quote(raw, safe="")
        gets = (
            f"/cabinet/returns/{YEAR}?version={probe}",
            f"/cabinet/returns/{YEAR}/disagree?line={probe}",
            f"/cabinet/returns/{probe}",
            f"/cabinet/receipts/{probe}",
            f"/cabinet/inbox/{probe}",
            f"/cabinet/returns/{YEAR}/decisions/{probe}?s={probe}",
            f"/lang/{probe}?next={probe}",
            f"/sign-in?notice={probe}",
        )
        for url in gets:
            _no_leak(client.get(url, params=None), url)
        probe = raw
        posts: dict[str, dict[str, str]] = {
            f"/cabinet/returns/{YEAR}/disagree": {
                "version": probe, "line_0": "on", "reason_0": probe, "comment_0": probe,
            },
            f"/cabinet/returns/{YEAR}/survey": {"score": probe, "comment": probe},
            "/cabinet/inbox/verify": {"code": probe},
            "/cabinet/telegram/link": {"code": probe},
        }  # fmt: skip
        for url, form in posts.items():
            _no_leak(client.post(url, data={**form, "csrf_token": token}), url)
    with new_client(world) as anonymous:
        for probe in PROBES:
            page = anonymous.get("/sign-in")
            r = anonymous.post("/sign-in", data={"pinfl": probe, "csrf_token": csrf_of(page.text)})
            _no_leak(r, "sign-in pinfl")
            page = anonymous.get("/staff/sign-in")
            r = anonymous.post(
                "/staff/sign-in",
                data={"username": probe, "password": probe, "csrf_token": csrf_of(page.text)},
            )
            _no_leak(r, "staff sign-in")
    assert _people_and_returns(world) == before


def test_injection_probes_in_every_staff_input(world: World) -> None:
    with new_client(world) as client:
        staff_sign_in(client, "sup")
        token = csrf_of(client.get("/staff/api-keys").text)
        for probe in PROBES:
            path_probe = quote(probe, safe="")
            for url in (
                "/dashboard",
                "/dashboard/breakdowns",
                "/dashboard/disputes",
                "/dashboard/feeds",
                "/dashboard/planner",
                "/dashboard/export/funnel.csv",
                "/dashboard/export/disputes.csv",
            ):
                params = {
                    k: probe
                    for k in ("year", "step", "status", "registry", "region", "due_before", "page")
                }
                r = client.get(url, params=params)
                assert r.status_code < 500, (url, probe, r.status_code)
            r = client.get(f"/dashboard/export/{path_probe}.csv")
            assert r.status_code < 500, (probe, r.status_code)
            r = client.post(
                "/staff/api-keys",
                data={
                    "registry": probe,
                    "label": probe,
                    "expires_days": probe,
                    "csrf_token": token,
                },
            )
            assert r.status_code < 500 and r.status_code != 201, (probe, r.status_code)
            r = client.post(f"/staff/api-keys/{path_probe}/revoke", data={"csrf_token": token})
            assert r.status_code < 500, (probe, r.status_code)


def test_injection_probes_in_every_json_field_of_the_ingest_api(world: World) -> None:
    from tests.unit.portal.conftest import payroll_event

    keys = ApiKeyService(ApiKeyRepository(world.sessions), world.clock)
    token = keys.create("payroll", label="probes").token
    before = _people_and_returns(world)
    # Hundreds of probes from one key: above the per-key rate limit (its own tests are in
    # tests/unit/portal/test_ingest_limits.py), which would answer 429 instead of judging.
    world.settings = dataclasses.replace(
        world.settings, ingest_key_rate_per_s=1000.0, ingest_key_burst=100_000
    )
    template = payroll_event()
    accepted: list[str] = []
    fields = [k for k in template if k != "data"] + [f"data.{k}" for k in template["data"]]
    with new_client(world) as client:
        for probe in PROBES:
            for field in fields:
                event = json.loads(json.dumps(template))
                event["event_id"] = (
                    f"probe-{len(fields) * PROBES.index(probe) + fields.index(field)}"
                )
                where = event["data"] if field.startswith("data.") else event
                where[field.removeprefix("data.")] = probe
                r = client.post(
                    "/api/v1/registries/payroll/events",
                    content=json.dumps(event),
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert r.status_code in (202, 422), (field, probe, r.status_code, r.text[:200])
                if r.status_code == 422:  # refused naming the field (or the whole event)
                    (error,) = r.json()["events"]
                    assert error["field"] in (field, None), (field, probe, error)
                else:  # a valid id ('-1', free-text record_id): passed on verbatim, as data
                    accepted.append(field)
                    assert json.loads(client_sent(world)[-1]) == event
            r = client.post(
                f"/api/v1/registries/{quote(probe, safe='')}/events",
                content=json.dumps(template),
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code in (403, 404, 422), (probe, r.status_code)
    assert set(accepted) <= {"record_id", "event_id"}, set(accepted)  # '-1' is a valid id
    assert _people_and_returns(world) == before


def client_sent(world: World) -> list[bytes]:
    return [value for _topic, _key, value in world.producer.sent]
