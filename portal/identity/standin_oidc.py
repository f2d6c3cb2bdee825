"""A local OpenID Connect provider for development and tests — a stand-in, NOT a real
provider — built on Authlib's authorization-server components (``AuthorizationServer``,
``AuthorizationCodeGrant``, PKCE ``CodeChallenge``, ``OpenIDCode``; Authlib ships
integrations for Flask and Django only, so the few request/response adapters for
Starlette are here).

Endpoints: discovery (``/.well-known/openid-configuration``), ``/authorize`` (a page to
choose the demo taxpayer), ``/token``, ``/jwks``. ID tokens are RS256, signed by the
current key; the claim ``pinfl`` carries the PINFL.

Stand-in controls for tests (JSON): ``POST /standin/rotate`` (a new signing key; the JWKS
then publishes only the new one), ``POST /standin/forge`` (the next ID token is signed by
a key that is in no JWKS), ``GET /standin/stats``.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from typing import Any, ClassVar

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    OAuth2Error,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from joserfc.jwk import RSAKey

from portal.identity.standin_page import chosen_pinfl, template

CODE_TTL_S = 60


@dataclasses.dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uri: str

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s in ("openid", "profile"))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri == self.redirect_uri

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret or "", self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_post", "client_secret_basic")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclasses.dataclass
class Person:
    pinfl: str
    legal: bool


@dataclasses.dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: Person
    nonce: str
    code_challenge: str
    code_challenge_method: str
    auth_time: int

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None

    def is_expired(self) -> bool:
        return time.time() - self.auth_time > CODE_TTL_S


class StarletteOAuth2Request(OAuth2Request):
    def __init__(self, method: str, url: str, headers: Any, data: dict[str, str]) -> None:
        super().__init__(method=method, uri=url, headers=headers)
        self.payload = BasicOAuth2Payload(data)
        self._data = data

    @property
    def args(self) -> dict[str, str]:
        return self._data

    @property
    def form(self) -> dict[str, str]:
        return self._data


@dataclasses.dataclass
class OidcStandIn:
    issuer: str
    client: Client
    people: Any  # storage.people.PeopleRepository, or None
    key: RSAKey = dataclasses.field(default_factory=lambda: _new_key())
    forge_next: bool = False
    codes: dict[str, Code] = dataclasses.field(default_factory=dict)
    stats: dict[str, int] = dataclasses.field(
        default_factory=lambda: {"codes": 0, "tokens": 0, "rotations": 0, "forged": 0}
    )

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.as_dict(private=False, use="sig", alg="RS256")]}


def _new_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(8)}, private=True)


class StandInServer(AuthorizationServer):
    def __init__(self, state: OidcStandIn) -> None:
        super().__init__(scopes_supported=["openid", "profile"])
        self.state = state
        self.register_token_generator(
            "default", BearerTokenGenerator(lambda **_: secrets.token_urlsafe(32))
        )

    def query_client(self, client_id: str) -> Client | None:
        return self.state.client if client_id == self.state.client.client_id else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        self.state.stats["tokens"] += 1

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return request

    def create_json_request(self, request: Any) -> Any:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> Response:
        if isinstance(body, dict):
            return JSONResponse(body, status_code=status, headers=dict(headers))
        return Response(body or "", status_code=status, headers=dict(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None


def _grant_class(state: OidcStandIn) -> type[AuthorizationCodeGrant]:
    class Grant(AuthorizationCodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_post"]

        def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
            data = request.payload.data
            state.codes[code] = Code(
                code=code,
                client_id=request.client.get_client_id(),
                redirect_uri=data.get("redirect_uri", ""),
                scope=request.payload.scope or "",
                user=request.user,
                nonce=data.get("nonce", ""),
                code_challenge=data.get("code_challenge", ""),
                code_challenge_method=data.get("code_challenge_method", ""),
                auth_time=int(time.time()),
            )
            state.stats["codes"] += 1

        def query_authorization_code(self, code: str, client: Client) -> Code | None:
            found = state.codes.get(code)
            if found is None or found.client_id != client.client_id or found.is_expired():
                return None
            return found

        def delete_authorization_code(self, authorization_code: Code) -> None:
            state.codes.pop(authorization_code.code, None)  # a code works once

        def authenticate_user(self, authorization_code: Code) -> Person:
            return authorization_code.user

    return Grant


def _openid_extension(state: OidcStandIn) -> OpenIDCode:
    class Extension(OpenIDCode):
        signing: RSAKey = state.key

        def get_encode_header(self, client: Client) -> dict[str, str]:
            self.signing = state.key
            if state.forge_next:  # a key in no JWKS: the relying party must refuse it
                state.forge_next = False
                state.stats["forged"] += 1
                self.signing = _new_key()
            return {"alg": "RS256", "kid": str(self.signing.kid)}

        def resolve_client_private_key(self, client: Client) -> RSAKey:
            return self.signing

        def get_client_claims(self, client: Client) -> dict[str, Any]:
            return {"iss": state.issuer, "aud": [client.client_id]}

        def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
            return any(c.nonce == nonce for c in state.codes.values())

        def generate_user_info(self, user: Person, scope: str) -> UserInfo:
            return UserInfo(sub=f"demo-{user.pinfl}", pinfl=user.pinfl, legal_entity=user.legal)

    return Extension(require_nonce=True)


async def _oauth_request(request: Request) -> StarletteOAuth2Request:
    data = dict(request.query_params)
    if request.method == "POST":
        data.update({k: str(v) for k, v in (await request.form()).items()})
    return StarletteOAuth2Request(request.method, str(request.url), request.headers, data)


def create_standin_app(state: OidcStandIn) -> FastAPI:
    server = StandInServer(state)
    server.register_grant(
        _grant_class(state),
        [CodeChallenge(required=True), _openid_extension(state)],
    )
    app = FastAPI(title="OpenID Connect stand-in (development only)", docs_url=None)

    @app.get("/.well-known/openid-configuration")
    async def discovery() -> Response:
        return JSONResponse(
            {
                "issuer": state.issuer,
                "authorization_endpoint": f"{state.issuer}/authorize",
                "token_endpoint": f"{state.issuer}/token",
                "jwks_uri": f"{state.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
            }
        )

    @app.get("/jwks")
    async def jwks() -> Response:
        return JSONResponse(state.jwks())

    @app.get("/authorize")
    async def authorize(request: Request) -> Response:
        oauth = await _oauth_request(request)
        try:
            server.get_consent_grant(oauth, end_user=None)
        except OAuth2Error as error:
            return HTMLResponse(f"invalid request: {error.error}", status_code=400)
        people = state.people.sample(20) if state.people is not None else []
        return HTMLResponse(
            template().render(
                provider="an OpenID Connect provider",
                client_id=state.client.client_id,
                action="/authorize",
                hidden=dict(request.query_params),
                people=people,
                error="",
            )
        )

    @app.post("/authorize")
    async def consent(request: Request) -> Response:
        oauth = await _oauth_request(request)
        form = oauth.form
        pinfl = None if form.get("deny") else chosen_pinfl(form)
        user = Person(pinfl, bool(form.get("legal"))) if pinfl else None
        try:
            grant = server.get_consent_grant(oauth, end_user=user)
        except OAuth2Error as error:
            return HTMLResponse(f"invalid request: {error.error}", status_code=400)
        response: Response = server.create_authorization_response(
            oauth, grant_user=user, grant=grant
        )
        return response

    @app.post("/token")
    async def token(request: Request) -> Response:
        response: Response = server.create_token_response(await _oauth_request(request))
        return response

    @app.post("/standin/rotate")
    async def rotate() -> Response:
        state.key = _new_key()
        state.stats["rotations"] += 1
        return JSONResponse({"kid": state.key.kid})

    @app.post("/standin/forge")
    async def forge() -> Response:
        state.forge_next = True
        return JSONResponse({"forge_next": True})

    @app.get("/standin/stats")
    async def stats() -> Response:
        return JSONResponse(state.stats)

    @app.get("/healthz")
    async def healthz() -> Response:
        return JSONResponse({"status": "ok", "standin": "oidc"})

    return app
