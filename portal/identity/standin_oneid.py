"""A local stand-in of OneID (sso.egov.uz) for development and tests — NOT OneID.

It speaks OneID's own grant types as public integrations use them
(``../shared/domain/oneid.md``) on one endpoint, ``/sso/oauth/Authorization.do``:

* ``GET`` with ``response_type=one_code``: a page to choose the demo taxpayer, which
  sends the browser back to the exact registered ``redirect_uri`` with ``code`` and
  ``state``;
* ``POST grant_type=one_authorization_code``: the code, once, within ``code_ttl_s``;
* ``POST grant_type=one_access_token_identify``: ``pin``, names, ``user_type``,
  ``legal_info``;
* ``POST grant_type=one_log_out``: ends the token's session.

Stand-in controls for tests (JSON): ``GET /standin/stats`` (codes issued and exchanged,
live tokens, log-outs) and ``POST /standin/expire-codes`` (every issued code expires).
State lives in this process's memory.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from portal.identity.standin_page import chosen_pinfl, template

ENDPOINT = "/sso/oauth/Authorization.do"


@dataclasses.dataclass
class Grant:
    pinfl: str
    legal: bool
    redirect_uri: str
    issued: float
    used: bool = False


@dataclasses.dataclass
class OneIdStandIn:
    client_id: str
    client_secret: str
    redirect_uri: str
    people: Any  # storage.people.PeopleRepository, or None
    code_ttl_s: float = 60.0
    codes: dict[str, Grant] = dataclasses.field(default_factory=dict)
    tokens: dict[str, Grant] = dataclasses.field(default_factory=dict)
    stats: dict[str, int] = dataclasses.field(
        default_factory=lambda: {"codes": 0, "exchanged": 0, "replayed": 0, "log_outs": 0}
    )


def _error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def create_standin_app(state: OneIdStandIn) -> FastAPI:
    app = FastAPI(title="OneID stand-in (development only)", docs_url=None, redoc_url=None)

    @app.get(ENDPOINT)
    async def authorize(request: Request) -> Response:
        q = request.query_params
        if q.get("response_type") != "one_code":
            return HTMLResponse("unsupported response_type", status_code=400)
        if q.get("client_id") != state.client_id or q.get("redirect_uri") != state.redirect_uri:
            return HTMLResponse("unknown client_id or redirect_uri", status_code=400)
        people = state.people.sample(20) if state.people is not None else []
        hidden = {k: q.get(k, "") for k in ("client_id", "redirect_uri", "state", "scope")}
        return HTMLResponse(
            template().render(
                provider="OneID",
                client_id=state.client_id,
                action="/standin/choose",
                hidden=hidden,
                people=people,
                error="",
            )
        )

    @app.post("/standin/choose")
    async def choose(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        if form.get("redirect_uri") != state.redirect_uri:
            return HTMLResponse("unknown redirect_uri", status_code=400)
        if form.get("deny"):
            query = {"error": "access_denied", "state": form.get("state", "")}
            return RedirectResponse(f"{state.redirect_uri}?{urlencode(query)}", 303)
        pinfl = chosen_pinfl(form)
        if pinfl is None:
            return HTMLResponse("choose a taxpayer or type 14 digits", status_code=400)
        code = secrets.token_urlsafe(24)
        state.codes[code] = Grant(pinfl, bool(form.get("legal")), state.redirect_uri, time.time())
        state.stats["codes"] += 1
        query = {"code": code, "state": form.get("state", "")}
        return RedirectResponse(f"{state.redirect_uri}?{urlencode(query)}", 303)

    @app.post(ENDPOINT)
    async def grants(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        if form.get("client_id") != state.client_id or not secrets.compare_digest(
            form.get("client_secret", ""), state.client_secret
        ):
            return _error("invalid_client", "wrong client_id or client_secret", 401)
        grant_type = form.get("grant_type")
        if grant_type == "one_authorization_code":
            return _exchange(state, form)
        token = state.tokens.get(form.get("access_token", ""))
        if grant_type == "one_access_token_identify":
            if token is None:
                return _error("invalid_token", "unknown or ended access_token", 401)
            return JSONResponse(_person(state, token))
        if grant_type == "one_log_out":
            if state.tokens.pop(form.get("access_token", ""), None) is not None:
                state.stats["log_outs"] += 1
            return JSONResponse({"status": "ok"})
        return _error("unsupported_grant_type", f"grant_type {grant_type!r}")

    @app.get("/standin/stats")
    async def stats() -> Response:
        return JSONResponse({**state.stats, "live_tokens": len(state.tokens)})

    @app.post("/standin/expire-codes")
    async def expire() -> Response:
        for grant in state.codes.values():
            grant.issued = 0.0
        return JSONResponse({"expired": len(state.codes)})

    @app.get("/healthz")
    async def healthz() -> Response:
        return JSONResponse({"status": "ok", "standin": "oneid"})

    return app


def _exchange(state: OneIdStandIn, form: dict[str, str]) -> Response:
    grant = state.codes.get(form.get("code", ""))
    if grant is None:
        return _error("invalid_grant", "unknown code")
    if grant.used:
        state.stats["replayed"] += 1
        return _error("invalid_grant", "the code was already exchanged")
    if time.time() - grant.issued > state.code_ttl_s:
        return _error("invalid_grant", "the code expired")
    if form.get("redirect_uri") != grant.redirect_uri:
        return _error("invalid_grant", "redirect_uri differs from the authorization request")
    grant.used = True
    state.stats["exchanged"] += 1
    access_token = secrets.token_urlsafe(32)
    state.tokens[access_token] = grant
    return JSONResponse(
        {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": form.get("scope", ""),
        }
    )


def _person(state: OneIdStandIn, grant: Grant) -> dict[str, Any]:
    person = state.people.get(grant.pinfl) if state.people is not None else None
    names = ((person.full_name if person is not None else None) or "Demo Taxpayer").split()
    answer: dict[str, Any] = {
        "valid": "true",
        "pin": grant.pinfl,
        "user_id": f"demo{grant.pinfl[-6:]}",
        "first_name": names[0],
        "sur_name": names[-1],
        "mid_name": "",
        "birth_date": (person.birth_date if person is not None else None) or "",
        "mob_phone_no": "",
        "email": "",
        "user_type": "L" if grant.legal else "I",
        "sess_id": secrets.token_hex(8),
    }
    if grant.legal:
        answer["legal_info"] = [{"le_tin": "300000001", "le_name": "Demo LLC", "is_basic": True}]
    return answer
