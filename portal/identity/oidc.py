"""The standard OpenID Connect adapter: authorization code with PKCE (S256) and ``nonce``
through Authlib's OAuth 2.0 client; the ID token is verified with joserfc (the JOSE
library Authlib itself uses since 1.6, by the same maintainers; ``authlib.jose`` is
deprecated in its favour) against the provider's JWKS.

Key rotation: the JWKS is cached; a token whose ``kid`` is not in the cached set makes
one fresh fetch (such refreshes at most every ``JWKS_REFRESH_MIN_S``), so a provider that
rotates keys is followed and a token signed by an unknown key is refused.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from core.sign_in import OidcConfig
from portal.identity.port import Begun, Identity, SignInFailed

log = logging.getLogger(__name__)
TIMEOUT_S = 10.0
JWKS_REFRESH_MIN_S = 5.0
ALGORITHMS = ["RS256", "ES256", "PS256"]
LEEWAY_S = 60


class OidcProvider:
    name = "oidc"

    def __init__(
        self,
        config: OidcConfig,
        redirect_uri: str,
        transport: httpx.AsyncBaseTransport | None = None,
        jwks_refresh_min_s: float = JWKS_REFRESH_MIN_S,
    ) -> None:
        self.jwks_refresh_min_s = jwks_refresh_min_s
        self.config = config
        self.standin = config.standin
        self.redirect_uri = redirect_uri
        self.transport = transport
        self._client = self._new_client()
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._refreshed_at = -float("inf")
        self._lock = asyncio.Lock()

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            url = f"{self.config.issuer}/.well-known/openid-configuration"
            answer = await self._get_json(url)
            if answer.get("issuer", "").rstrip("/") != self.config.issuer:
                raise SignInFailed("the provider's discovery document names another issuer")
            self._metadata = answer
        return self._metadata

    def _new_client(self) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
            token_endpoint_auth_method="client_secret_post",  # noqa: S106 (a method name)
            redirect_uri=self.redirect_uri,
            scope=self.config.scope,
            code_challenge_method="S256",
            timeout=TIMEOUT_S,
            transport=self.transport,  # tests: the stand-in in process
        )

    async def begin(self) -> Begun:
        meta = await self.metadata()
        verifier, nonce = generate_token(64), generate_token(32)
        url, state = self._client.create_authorization_url(
            meta["authorization_endpoint"],
            state=generate_token(32),
            code_verifier=verifier,
            nonce=nonce,
        )
        return Begun(url=url, state=state, nonce=nonce, code_verifier=verifier)

    async def complete(self, code: str, nonce: str, code_verifier: str) -> Identity:
        meta = await self.metadata()
        try:
            async with self._new_client() as client:  # the shared client keeps no token
                token = await client.fetch_token(
                    meta["token_endpoint"],
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=code_verifier,
                    redirect_uri=self.redirect_uri,
                )
        except (OAuthError, ValueError, httpx.HTTPError) as exc:
            raise SignInFailed(f"the provider refused the code: {exc}") from exc
        id_token = token.get("id_token")
        if not id_token:
            raise SignInFailed("the token answer carries no ID token")
        claims = await self.verify_id_token(str(id_token), nonce)
        pin = str(claims.get(self.config.pinfl_claim) or "")
        if not (pin.isascii() and pin.isdigit() and len(pin) == 14):
            raise SignInFailed(f"the ID token has no 14-digit {self.config.pinfl_claim!r} claim")
        return Identity(pinfl=pin, legal_entity=bool(claims.get("legal_entity")))

    async def verify_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        keys = await self._key_set(refresh=False)
        try:
            try:
                decoded = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
            except InvalidKeyIdError:
                keys = await self._key_set(refresh=True)  # the provider may have rotated
                decoded = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
            jwt.JWTClaimsRegistry(
                leeway=LEEWAY_S,
                iss={"essential": True, "value": self.config.issuer},
                aud={"essential": True, "value": self.config.client_id},
                sub={"essential": True},
                exp={"essential": True},
                iat={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise SignInFailed(f"the ID token does not hold up: {exc}") from exc
        return dict(decoded.claims)

    async def _key_set(self, refresh: bool) -> KeySet:
        async with self._lock:
            # Refreshes for an unknown kid are spaced out; the first fetch is not one.
            stale = time.monotonic() - self._refreshed_at >= self.jwks_refresh_min_s
            if self._keys is None or (refresh and stale):
                if self._keys is not None:
                    self._refreshed_at = time.monotonic()
                meta = await self.metadata()
                jwks: Any = await self._get_json(meta["jwks_uri"])
                self._keys = KeySet.import_key_set(jwks)
            return self._keys

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self._client.request("GET", url, withhold_token=True)
            response.raise_for_status()
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SignInFailed(f"{url}: {exc}") from exc
        if not isinstance(answer, dict):
            raise SignInFailed(f"{url}: not a JSON object")
        return answer

    async def log_out(self, access_token: str) -> None:
        """Only the portal session ends: RP-initiated logout needs a browser redirect."""

    async def aclose(self) -> None:
        await self._client.aclose()
