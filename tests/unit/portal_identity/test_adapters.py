"""The identity-provider adapters against the stand-ins, in process (httpx's ASGI
transport): OneID's own grant types through Authlib's client, and OpenID Connect with
PKCE, nonce and ID tokens checked against the JWKS (rotation, an unknown key)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from core.sign_in import OidcConfig, OneIdConfig
from portal.identity.oidc import OidcProvider
from portal.identity.oneid import OneIdProvider
from portal.identity.port import SignInFailed
from portal.identity.standin_oidc import Client, OidcStandIn
from portal.identity.standin_oidc import create_standin_app as oidc_app
from portal.identity.standin_oneid import OneIdStandIn
from portal.identity.standin_oneid import create_standin_app as oneid_app

PINFL = "31501901230014"
ONEID = "http://127.0.0.1:8084/sso/oauth/Authorization.do"
ISSUER = "http://127.0.0.1:8085"
REDIRECT = "http://127.0.0.1:8080/sign-in/{}/callback"


class People:
    def sample(self, limit: int) -> list[tuple[str, str, str]]:
        return [(PINFL, "Aziz Rahimov", "en")]

    def get(self, pinfl: str) -> Any:
        return None


async def _choose(client: httpx.AsyncClient, url: str, **form: str) -> dict[str, str]:
    """The browser's part: open the stand-in's page, choose, follow it back."""
    page = await client.get(url)
    assert page.status_code == 200, page.text
    assert "STAND-IN" in page.text
    first = page.text.split("</form>")[0]  # the second form is Cancel
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', first))
    action = re.search(r'<form method="post" action="([^"]+)"', first)[1]  # type: ignore[index]
    answer = await client.post(action, data={**hidden, "pinfl": PINFL, **form})
    assert answer.status_code in (302, 303), answer.text
    back = answer.headers["location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}


@pytest.fixture
def oneid() -> tuple[OneIdStandIn, OneIdProvider, httpx.AsyncClient]:
    state = OneIdStandIn("portal", "s3cret", REDIRECT.format("oneid"), People())
    transport = httpx.ASGITransport(app=oneid_app(state))
    config = OneIdConfig(ONEID, ONEID, ONEID, ONEID, "portal", "s3cret", "portal", True)
    provider = OneIdProvider(config, REDIRECT.format("oneid"), transport=transport)
    return state, provider, httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8084")


async def test_oneid_sign_in_identify_and_log_out(oneid: Any) -> None:
    state, provider, browser = oneid
    begun = await provider.begin()
    query = parse_qs(urlsplit(begun.url).query)
    assert query["response_type"] == ["one_code"] and query["state"] == [begun.state]
    assert "client_secret" not in query  # the secret never goes through the browser
    back = await _choose(browser, begun.url)
    assert back["state"] == begun.state
    identity = await provider.complete(back["code"], "", "")
    assert identity.pinfl == PINFL and not identity.legal_entity and identity.access_token
    with pytest.raises(SignInFailed):  # a code works once
        await provider.complete(back["code"], "", "")
    assert state.stats["replayed"] == 1
    await provider.log_out(identity.access_token)
    assert state.stats["log_outs"] == 1 and not state.tokens


async def test_oneid_legal_entity_and_expired_code(oneid: Any) -> None:
    _, provider, browser = oneid
    back = await _choose(browser, (await provider.begin()).url, legal="1")
    assert (await provider.complete(back["code"], "", "")).legal_entity
    back = await _choose(browser, (await provider.begin()).url)
    await browser.post("/standin/expire-codes")
    with pytest.raises(SignInFailed):
        await provider.complete(back["code"], "", "")


async def test_oneid_wrong_secret_is_refused(oneid: Any) -> None:
    _, right, browser = oneid
    config = dataclasses.replace(right.config, client_secret="wrong")
    provider = OneIdProvider(config, REDIRECT.format("oneid"), transport=right.transport)
    back = await _choose(browser, (await provider.begin()).url)
    with pytest.raises(SignInFailed):
        await provider.complete(back["code"], "", "")


@pytest.fixture
def oidc() -> tuple[OidcStandIn, OidcProvider, httpx.AsyncClient]:
    state = OidcStandIn(ISSUER, Client("portal", "s3cret", REDIRECT.format("oidc")), People())
    transport = httpx.ASGITransport(app=oidc_app(state))
    config = OidcConfig(ISSUER, "portal", "s3cret", "openid", "pinfl", True)
    provider = OidcProvider(
        config, REDIRECT.format("oidc"), transport=transport, jwks_refresh_min_s=0.0
    )
    return state, provider, httpx.AsyncClient(transport=transport, base_url=ISSUER)


async def _oidc_sign_in(provider: OidcProvider, browser: httpx.AsyncClient) -> Any:
    begun = await provider.begin()
    query = parse_qs(urlsplit(begun.url).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] == [begun.nonce]
    back = await _choose(browser, begun.url)
    assert back["state"] == begun.state
    return await provider.complete(back["code"], begun.nonce, begun.code_verifier)


async def test_oidc_sign_in_with_pkce_and_nonce(oidc: Any) -> None:
    _, provider, browser = oidc
    identity = await _oidc_sign_in(provider, browser)
    assert identity.pinfl == PINFL and not identity.legal_entity


async def test_oidc_follows_key_rotation(oidc: Any) -> None:
    _, provider, browser = oidc
    await _oidc_sign_in(provider, browser)  # the JWKS is cached now
    await browser.post("/standin/rotate")
    assert (await _oidc_sign_in(provider, browser)).pinfl == PINFL


async def test_oidc_refuses_unknown_key_wrong_nonce_and_missing_pkce(oidc: Any) -> None:
    state, provider, browser = oidc
    await browser.post("/standin/forge")
    with pytest.raises(SignInFailed, match="does not hold up"):
        await _oidc_sign_in(provider, browser)
    assert state.stats["forged"] == 1
    begun = await provider.begin()
    back = await _choose(browser, begun.url)
    with pytest.raises(SignInFailed):  # another sign-in's nonce
        await provider.complete(back["code"], "another-nonce", begun.code_verifier)
    begun = await provider.begin()
    back = await _choose(browser, begun.url)
    with pytest.raises(SignInFailed):  # the wrong PKCE verifier
        await provider.complete(back["code"], begun.nonce, "x" * 64)
