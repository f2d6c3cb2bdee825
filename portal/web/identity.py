"""Sign-in through an identity provider (OneID, or a standard OpenID Connect provider):
``/sign-in/{provider}`` sends the browser there, ``/sign-in/{provider}/callback`` takes
it back. The ``state`` is bound to this browser session and works once; the code is
exchanged server-side; a company representative or a person who is not in the
population register gets a page that says so. The port and adapters: ``portal/identity``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from contracts.redaction import mask_pinfl
from portal.identity.port import SignInFailed
from portal.web.context import Ctx, Page
from portal.web.security import NotFound, token_hash
from storage.identity import Pending

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


def _provider(ctx: Ctx, name: str):  # type: ignore[no-untyped-def]
    provider = ctx.services.providers.get(name)
    if provider is None:
        raise NotFound(f"no sign-in provider {name!r}")
    return provider


def _refused(ctx: Ctx, reason: str, status: int, provider: str) -> Response:
    return ctx.render("sign_in_refused.html", status, reason=reason, provider=provider)


@router.get("/sign-in/{name}")
async def begin(name: str, ctx: Page) -> Response:
    provider = _provider(ctx, name)
    if ctx.session.kind == "taxpayer":
        return ctx.redirect("/cabinet")
    try:
        begun = await provider.begin()
    except SignInFailed:
        log.warning("portal: %s sign-in could not start", name, exc_info=True)
        return _refused(ctx, "unavailable", 503, name)
    web, now = ctx.services, ctx.services.clock.now()
    ttl = dt.timedelta(seconds=web.settings.identity_state_ttl_s)
    pending = Pending(ctx.session.token_sha256, name, begun.nonce, begun.code_verifier, now + ttl)
    await asyncio.to_thread(web.identity.start, token_hash(begun.state), pending)
    return ctx.finish(RedirectResponse(begun.url, status_code=303))


@router.get("/sign-in/{name}/callback")
async def callback(name: str, ctx: Page) -> Response:
    provider = _provider(ctx, name)
    query = ctx.request.query_params
    state, code = query.get("state", ""), query.get("code", "")
    web = ctx.services
    pending = None
    if state:
        pending = await asyncio.to_thread(web.identity.take, token_hash(state), web.clock.now())
    if (
        pending is None
        or pending.provider != name
        or pending.session_sha256 != ctx.session.token_sha256
    ):
        log.warning("portal: %s callback with an unknown, used or foreign state", name)
        return _refused(ctx, "state", 400, name)
    if query.get("error") or not code:
        return _refused(ctx, "cancelled", 400, name)
    try:
        identity = await provider.complete(code, pending.nonce, pending.code_verifier)
    except SignInFailed as exc:
        log.warning("portal: %s sign-in failed: %s", name, exc)
        return _refused(ctx, "failed", 400, name)
    if identity.legal_entity:
        await provider.log_out(identity.access_token)
        return _refused(ctx, "legal_entity", 403, name)
    if await asyncio.to_thread(web.people.get, identity.pinfl) is None:
        log.info("portal: %s sign-in of %s, not in the register", name, mask_pinfl(identity.pinfl))
        await provider.log_out(identity.access_token)
        return _refused(ctx, "not_in_registry", 403, name)
    await ctx.start_session("taxpayer", identity.pinfl)
    if identity.access_token:
        expires = web.clock.now() + dt.timedelta(seconds=web.settings.portal_session_max_s)
        await asyncio.to_thread(
            web.identity.link, ctx.session.token_sha256, name, identity.access_token, expires
        )
    log.info("portal: %s signed in with %s", mask_pinfl(identity.pinfl), name)
    return ctx.redirect("/cabinet")


async def end_provider_session(ctx: Ctx) -> None:
    """At sign-out: end the provider's session too (OneID ``one_log_out``), if any."""
    web = ctx.services
    if web.identity is None:
        return
    found = await asyncio.to_thread(web.identity.unlink, ctx.session.token_sha256)
    if found is None:
        return
    provider = web.providers.get(found[0])
    if provider is not None and found[1]:
        await provider.log_out(found[1])
