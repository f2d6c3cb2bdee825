"""The OneID adapter: OAuth 2.0 with OneID's own grant types (``../shared/domain/oneid.md``)
through Authlib's OAuth 2.0 client.

authorize (``response_type=one_code``) ► token (``grant_type=one_authorization_code``) ►
identify (``grant_type=one_access_token_identify``: ``pin``, ``user_type``, ``legal_info``)
► at sign-out ``grant_type=one_log_out``. The client secret goes in the form body of
server-side requests only (``client_secret_post``); every endpoint is a setting.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError

from core.sign_in import OneIdConfig
from portal.identity.port import Begun, Identity, SignInFailed

log = logging.getLogger(__name__)
TIMEOUT_S = 10.0


class OneIdProvider:
    name = "oneid"

    def __init__(
        self,
        config: OneIdConfig,
        redirect_uri: str,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.standin = config.standin
        self.redirect_uri = redirect_uri
        self.transport = transport
        self._client = self._new_client()

    def _new_client(self) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
            token_endpoint_auth_method="client_secret_post",  # noqa: S106 (a method name)
            redirect_uri=self.redirect_uri,
            scope=self.config.scope,
            timeout=TIMEOUT_S,
            transport=self.transport,  # tests: the stand-in in process
        )

    async def begin(self) -> Begun:
        url, state = self._client.create_authorization_url(
            self.config.authorize_url, state=generate_token(32), response_type="one_code"
        )
        return Begun(url=url, state=state)

    async def complete(self, code: str, nonce: str, code_verifier: str) -> Identity:
        try:
            async with self._new_client() as client:  # the shared client keeps no token
                token = await client.fetch_token(
                    self.config.token_url,
                    grant_type="one_authorization_code",
                    code=code,
                    redirect_uri=self.redirect_uri,
                )
        except (OAuthError, ValueError, httpx.HTTPError) as exc:
            raise SignInFailed(f"OneID refused the code: {exc}") from exc
        access_token = str(token.get("access_token") or "")
        if not access_token:
            raise SignInFailed("OneID answered the code without an access token")
        person = await self._form(
            self.config.identify_url, "one_access_token_identify", access_token
        )
        pin = str(person.get("pin") or "")
        legal = bool(person.get("legal_info")) or str(person.get("user_type", "I")).upper() not in (
            "I",
            "INDIVIDUAL",
        )
        if not legal and not (pin.isascii() and pin.isdigit() and len(pin) == 14):
            raise SignInFailed("OneID identified a person without a 14-digit pin")
        expires = token.get("expires_in")
        return Identity(
            pinfl=pin,
            legal_entity=legal,
            access_token=access_token,
            expires_in_s=int(expires) if str(expires or "").isdigit() else 0,
        )

    async def log_out(self, access_token: str) -> None:
        try:
            await self._form(self.config.logout_url, "one_log_out", access_token)
        except SignInFailed:
            log.warning("OneID did not confirm one_log_out", exc_info=True)

    async def _form(self, url: str, grant_type: str, access_token: str) -> dict[str, Any]:
        data = {
            "grant_type": grant_type,
            "client_id": self.config.client_id,
            "client_secret": self.config.client_secret,
            "access_token": access_token,
            "scope": self.config.scope,
        }
        # withhold_token: the token travels in the form, as OneID expects, not as a header.
        try:
            response = await self._client.request("POST", url, data=data, withhold_token=True)
        except httpx.HTTPError as exc:
            raise SignInFailed(f"OneID {grant_type}: {exc}") from exc
        if response.status_code != 200:
            raise SignInFailed(f"OneID {grant_type}: HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError as exc:
            raise SignInFailed(f"OneID {grant_type}: not JSON") from exc
        if not isinstance(answer, dict) or answer.get("error"):
            raise SignInFailed(f"OneID {grant_type}: {answer!r:.200}")
        return answer

    async def aclose(self) -> None:
        await self._client.aclose()
