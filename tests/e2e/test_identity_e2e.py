"""Sign-in through OneID and OpenID Connect in a real browser (Playwright driving
Debian's Chromium), every part real: the portal process (uvicorn, on the real broker and
a SQLite file), the OneID stand-in and the OpenID Connect stand-in as processes of their
own, exactly as ``make run`` starts them.

OneID: sign in and out (``one_log_out`` reaches the provider), a person who is not in the
population register, a company representative, an expired code, a replayed code, a wrong
``state``. OpenID Connect: sign in, a provider that rotated its key, an ID token signed
by a key in no JWKS.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from core.settings import Settings
from devtools.processes import ServiceProcess
from devtools.registries_mock.pinfl import make_pinfl
from storage.database import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.people import PeopleRepository, PersonUpdate
from tests.support.portal import free_port
from tests.support.waiting import wait_until

# one xdist worker runs the module: its tests share one module-scoped fixture, in order
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("identity-e2e")]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AZIZ = make_pinfl(dt.date(1984, 3, 14), "M", 101, 11)
STRANGER = make_pinfl(dt.date(1970, 1, 1), "F", 999, 99)  # not in the register
CABINET = "My income tax returns"


@dataclasses.dataclass
class Stack:
    settings: Settings
    portal: str
    oneid: str
    oidc: str


def _healthy(process: ServiceProcess, url: str) -> bool:
    assert process.alive(), f"{process.name} exited:\n{process.log_tail()}"
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
def stack(kafka: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("identity")
    settings = dataclasses.replace(
        kafka,
        run_dir=tmp,
        database_url=f"sqlite:///{tmp / 'proactax.db'}",
        development=True,
        portal_port=free_port(),
        portal_cookie_secure=False,  # plain http on 127.0.0.1 in this test
        oneid_standin_port=free_port(),
        oidc_standin_port=free_port(),
    )
    upgrade(settings.database)
    people = PeopleRepository(make_session_factory(make_engine(settings.database)))
    data = {"full_name": "Aziz Rahimov", "birth_date": "1984-03-14", "sex": "M",
            "region_code": "TAS_CITY", "preferred_language": "en"}  # fmt: skip
    people.apply([PersonUpdate(AZIZ, 1, data)], dt.datetime.now(dt.UTC))
    processes = [
        ServiceProcess.portal(settings, tmp / "portal.log"),
        ServiceProcess.oneid_standin(settings, tmp / "oneid.log"),
        ServiceProcess.oidc_standin(settings, tmp / "oidc.log"),
    ]
    urls = [
        f"http://127.0.0.1:{settings.portal_port}",
        f"http://127.0.0.1:{settings.oneid_standin_port}",
        f"http://127.0.0.1:{settings.oidc_standin_port}",
    ]
    try:
        for process, url in zip(processes, urls, strict=True):
            process.start()
            wait_until(
                lambda p=process, u=url: _healthy(p, u),  # type: ignore[misc]
                timeout_s=60,
                what=f"{process.name} answering /healthz",
                describe=process.log_tail,
            )
        yield Stack(settings, *urls)
    finally:
        codes = [(process, process.stop()) for process in processes]  # stop all, then check
        for process, code in codes:
            assert code == 0, process.log_tail()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, stack: Stack) -> Iterator[Any]:
    context = browser.new_context(base_url=stack.portal)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto("/lang/en?next=/sign-in")
    yield page
    context.close()


def _stats(url: str) -> dict[str, int]:
    return httpx.get(f"{url}/standin/stats", timeout=5).json()


def _heading(page: Any) -> str:
    return str(page.get_by_role("heading", level=1).inner_text())


def _choose(page: Any, provider: str, *, other: str = "", legal: bool = False) -> None:
    """On the portal's sign-in page: go to the provider's stand-in and choose a taxpayer."""
    page.goto("/sign-in")
    page.get_by_role("link", name=f"Sign in with {provider}").click()
    page.get_by_text("STAND-IN").wait_for()
    if other:
        page.get_by_label("Or any 14-digit PINFL").fill(other)
    else:
        page.get_by_label(re.compile("Aziz Rahimov")).check()
    if legal:
        page.get_by_label("Sign in as a company representative").check()
    page.get_by_role("button", name="Sign in as this taxpayer").click()


def _captured_callback(page: Any) -> str:
    """Choose at the OneID stand-in, but keep the browser from going back to the portal:
    the callback URL (code and state) is caught, the code not yet exchanged."""
    caught: list[str] = []

    def hold(route: Any) -> None:
        response = route.fetch(max_redirects=0)
        caught.append(response.headers["location"])
        route.fulfill(status=200, content_type="text/plain", body="held by the test")

    page.route("**/standin/choose", hold)
    _choose(page, "OneID")
    page.get_by_text("held by the test").wait_for()
    page.unroute("**/standin/choose")
    assert caught and "/sign-in/oneid/callback?" in caught[0], caught
    return caught[0]


def _sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/$"))


def test_oneid_sign_in_and_sign_out(page: Any, stack: Stack) -> None:
    before = _stats(stack.oneid)
    _choose(page, "OneID")
    page.wait_for_url("**/cabinet")
    assert _heading(page) == CABINET
    assert _stats(stack.oneid)["live_tokens"] == before["live_tokens"] + 1
    _sign_out(page)
    after = _stats(stack.oneid)
    assert after["log_outs"] == before["log_outs"] + 1  # one_log_out reached OneID
    assert after["live_tokens"] == before["live_tokens"]
    page.goto("/cabinet")
    page.wait_for_url("**/sign-in?next=/cabinet")  # the portal session ended too


def test_oneid_person_not_in_register_and_company_representative(page: Any) -> None:
    _choose(page, "OneID", other=STRANGER)
    assert _heading(page) == "We have no record of you"
    _choose(page, "OneID", legal=True)
    assert _heading(page) == "This service is for individuals"
    page.goto("/cabinet")
    page.wait_for_url("**/sign-in?next=/cabinet")  # neither signed in


def test_oneid_expired_replayed_code_and_wrong_state(page: Any, stack: Stack) -> None:
    # Expired: the code waits past its lifetime before the browser brings it back.
    expired = _captured_callback(page)
    httpx.post(f"{stack.oneid}/standin/expire-codes", timeout=5).raise_for_status()
    page.goto(expired)
    assert _heading(page) == "Sign-in failed"
    # Replayed: a code used once, brought back with a fresh, valid state.
    first = _captured_callback(page)
    page.goto(first)
    page.wait_for_url("**/cabinet")
    _sign_out(page)
    second = parse_qs(urlsplit(_captured_callback(page)).query)
    code = parse_qs(urlsplit(first).query)["code"][0]
    replayed = _stats(stack.oneid)["replayed"]
    page.goto(f"/sign-in/oneid/callback?{urlencode({'code': code, 'state': second['state'][0]})}")
    assert _heading(page) == "Sign-in failed"
    assert _stats(stack.oneid)["replayed"] == replayed + 1
    # Wrong state: a genuine, unused code with a state this browser never started.
    third = parse_qs(urlsplit(_captured_callback(page)).query)
    wrong = {"code": third["code"][0], "state": "not-the-state-we-sent"}
    response = page.goto(f"/sign-in/oneid/callback?{urlencode(wrong)}")
    assert response.status == 400
    assert _heading(page) == "This sign-in cannot be completed"
    # ... and the real state, from another browser session, is refused the same way.
    other = page.context.browser.new_context(base_url=stack.portal)
    try:
        foreign = other.new_page()
        response = foreign.goto(f"/sign-in/oneid/callback?{urlencode(third)}")
        assert response.status == 400
    finally:
        other.close()


def test_oidc_sign_in_rotation_and_unknown_key(page: Any, stack: Stack) -> None:
    _choose(page, "OpenID Connect")
    page.wait_for_url("**/cabinet")
    assert _heading(page) == CABINET
    _sign_out(page)
    # The provider rotates its signing key: the portal fetches the new JWKS.
    httpx.post(f"{stack.oidc}/standin/rotate", timeout=5).raise_for_status()
    _choose(page, "OpenID Connect")
    page.wait_for_url("**/cabinet")
    _sign_out(page)
    # An ID token signed by a key in no JWKS is refused.
    httpx.post(f"{stack.oidc}/standin/forge", timeout=5).raise_for_status()
    _choose(page, "OpenID Connect")
    assert _heading(page) == "Sign-in failed"
    assert _stats(stack.oidc)["forged"] == 1
    page.goto("/cabinet")
    page.wait_for_url("**/sign-in?next=/cabinet")
