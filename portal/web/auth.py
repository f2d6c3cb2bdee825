"""Sign-in and sign-out: taxpayers with PINFL + a one-time code (sent through the bot to
the linked Telegram chat, else by the SMS stub: the OneID stand-in), STC staff with a
username and password; the language switch."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.background import BackgroundTask

from contracts.redaction import mask_pinfl
from core.settings import Settings
from portal.web import i18n
from portal.web.clients import client_address
from portal.web.context import Ctx, Page
from portal.web.identity import end_provider_session
from portal.web.security import (
    USERNAME_RE,
    dummy_hash,
    safe_next,
    valid_pinfl,
    verify_password,
)
from storage.portal.throttles import Backoff, Verdict

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


def client_of(request: Request) -> str:
    """The client a throttle counts against (portal/web/clients.py)."""
    return client_address(
        request.client.host if request.client else None,
        request.headers.getlist("x-forwarded-for"),
        request.app.state.web.settings.portal_trusted_proxies,
    )


def backoff(settings: Settings, free: int) -> Backoff:
    return Backoff(
        free=free,
        base=dt.timedelta(seconds=settings.portal_throttle_delay_s),
        cap=dt.timedelta(seconds=settings.portal_throttle_max_delay_s),
        idle=dt.timedelta(seconds=settings.portal_throttle_window_s),
    )


# At most one sign-in code per PINFL per minute, whoever asks (SMS bombing, enumeration).
ONE_CODE_A_MINUTE = Backoff(
    free=1,
    base=dt.timedelta(seconds=60),
    cap=dt.timedelta(seconds=60),
    idle=dt.timedelta(seconds=60),
)


async def _attempt(ctx: Ctx, *keys: tuple[str, Backoff]) -> Verdict | None:
    """Count an attempt on every key, in order (count first, then decide); the first
    refusal, if any. A refused key stops the counting: the later keys are not charged."""
    web, now = ctx.services, ctx.services.clock.now()
    for key, policy in keys:
        verdict: Verdict = await asyncio.to_thread(web.throttles.attempt, key, now, policy)
        if not verdict.allowed:
            return verdict
    return None


def _minutes(verdict: Verdict) -> int:
    return max(1, -(-int(verdict.retry_after.total_seconds()) // 60))


def _retry_after(response: Response, verdict: Verdict) -> Response:
    response.headers["Retry-After"] = str(max(1, int(verdict.retry_after.total_seconds())))
    return response


@router.get("/")
async def home(ctx: Page) -> Response:
    if ctx.session.kind == "taxpayer":
        return ctx.redirect("/cabinet")
    if ctx.session.kind == "staff":
        return ctx.redirect("/dashboard")
    return ctx.render("home.html")


@router.get("/sign-in")
async def sign_in_form(ctx: Page) -> Response:
    if ctx.session.kind == "taxpayer":
        return ctx.redirect("/cabinet")
    return ctx.render("sign_in.html", error=None, pinfl="")


@router.post("/sign-in")
async def sign_in_send(ctx: Page) -> Response:
    """The same answer whether or not the PINFL can receive a code, and whether or not a
    code went out (one a minute per PINFL): the sending happens after the answer."""
    form = await ctx.request.form()
    pinfl = str(form.get("pinfl", "")).strip().replace(" ", "")
    if not valid_pinfl(pinfl):
        return ctx.render("sign_in.html", 400, error=ctx.t("signin.bad_pinfl"), pinfl=pinfl)
    settings = ctx.services.settings
    client = client_of(ctx.request)
    refused = await _attempt(
        ctx, (f"client:{client}", backoff(settings, settings.portal_address_max_failures))
    )
    if refused is not None:
        error = ctx.t("signin.throttled", minutes=_minutes(refused))
        return _retry_after(ctx.render("sign_in.html", 429, error=error, pinfl=""), refused)
    slot = await _attempt(ctx, (f"send:{pinfl}", ONE_CODE_A_MINUTE))
    await ctx.ensure_session()
    await asyncio.to_thread(ctx.services.sessions.set_pending, ctx.session.token_sha256, pinfl)
    response = ctx.redirect("/sign-in/code?notice=signin.code_sent")
    if slot is None:
        response.background = BackgroundTask(_send_code, ctx.services.notifier, pinfl, client)
    return response


async def _send_code(notifier: Any, pinfl: str, client: str) -> None:
    try:
        result = await notifier.send_sign_in_code(pinfl, client)
    except Exception:
        log.warning("portal sign-in code for %s failed", mask_pinfl(pinfl), exc_info=True)
        return
    log.info("portal sign-in code for %s: %s", mask_pinfl(pinfl), result.channel or result.reason)


@router.get("/sign-in/code")
async def code_form(ctx: Page) -> Response:
    if not ctx.session.pending_pinfl:
        return ctx.redirect("/sign-in")
    notice = ctx.request.query_params.get("notice", "")
    notice = notice if notice == "signin.code_sent" else ""
    return ctx.render(
        "sign_in_code.html", error=None, notice=notice, masked=mask_pinfl(ctx.session.pending_pinfl)
    )


@router.post("/sign-in/code")
async def code_check(ctx: Page) -> Response:
    pinfl = ctx.session.pending_pinfl
    if not pinfl:
        return ctx.redirect("/sign-in")
    form = await ctx.request.form()
    code = str(form.get("code", "")).strip().replace(" ", "")
    settings = ctx.services.settings
    client = client_of(ctx.request)
    by_client, by_pinfl = f"client:{client}", f"code:{pinfl}|{client}"

    def again(status: int, key: str, **values: Any) -> Response:
        return ctx.render(
            "sign_in_code.html",
            status,
            error=ctx.t(key, **values),
            notice="",
            masked=mask_pinfl(pinfl),
        )

    refused = await _attempt(
        ctx,
        (by_client, backoff(settings, settings.portal_address_max_failures)),
        (by_pinfl, backoff(settings, settings.portal_code_max_failures)),
    )
    if refused is not None:
        log.warning("portal sign-in throttled for %s", mask_pinfl(pinfl))
        return _retry_after(again(429, "signin.throttled", minutes=_minutes(refused)), refused)
    outcome = "wrong"
    if code.isascii() and code.isdigit() and len(code) == 6:
        outcome = await asyncio.to_thread(
            ctx.services.notifier.verify_sign_in_code, pinfl, code, client
        )
    if outcome == "ok":
        await asyncio.to_thread(ctx.services.throttles.clear, by_pinfl)
        await asyncio.to_thread(ctx.services.throttles.forgive, by_client)
        await ctx.start_session("taxpayer", pinfl)
        log.info("portal: %s signed in", mask_pinfl(pinfl))
        return ctx.redirect("/cabinet")
    if outcome == "too_many":
        return again(429, "signin.code_burnt")
    if outcome == "none":
        return again(400, "signin.code_none")
    return again(400, "signin.code_wrong")


@router.post("/sign-out")
async def sign_out(ctx: Page) -> Response:
    staff = ctx.session.kind == "staff"
    await end_provider_session(ctx)  # OneID one_log_out, when signed in through OneID
    await ctx.end_session()
    return ctx.redirect("/staff/sign-in" if staff else "/")


@router.get("/staff/sign-in")
async def staff_form(ctx: Page) -> Response:
    if ctx.session.kind == "staff":
        return ctx.redirect("/dashboard")
    return ctx.render("staff_sign_in.html", error=None, username="", request_next=ctx.next_url(""))


@router.post("/staff/sign-in")
async def staff_check(ctx: Page) -> Response:
    form = await ctx.request.form()
    username = str(form.get("username", "")).strip().lower()
    password = str(form.get("password", ""))
    settings = ctx.services.settings
    client = client_of(ctx.request)
    by_client, by_user = f"client:{client}", f"staff:{username[:64]}|{client}"

    def again(status: int, error: str) -> Response:
        return ctx.render(
            "staff_sign_in.html",
            status,
            error=error,
            username=username,
            request_next=ctx.next_url(""),
        )

    refused = await _attempt(
        ctx,
        (by_client, backoff(settings, settings.portal_address_max_failures)),
        (by_user, backoff(settings, settings.portal_staff_max_failures)),
    )
    if refused is not None:
        log.warning("portal: staff sign-in throttled")
        error = ctx.t("signin.throttled", minutes=_minutes(refused))
        return _retry_after(again(429, error), refused)
    account = None
    if USERNAME_RE.fullmatch(username):
        account = await asyncio.to_thread(ctx.services.staff.get, username)
    stored = account.password_hash if account is not None and not account.disabled else None
    ok = await asyncio.to_thread(verify_password, stored or dummy_hash(), password)
    if not ok or stored is None or account is None:
        return again(400, ctx.t("staff.signin_wrong"))
    await asyncio.to_thread(ctx.services.throttles.clear, by_user)
    await asyncio.to_thread(ctx.services.throttles.forgive, by_client)
    await ctx.start_session("staff", account.username, account.role)
    log.info("portal: staff %s signed in", username)
    return ctx.redirect(ctx.next_url("/dashboard"))


@router.get("/lang/{lang}")
async def switch_language(lang: str, ctx: Page) -> Response:
    """A preference, not a state change of the service: a plain link works without JS."""
    if lang in i18n.LANGUAGES:
        ctx.set_lang = lang
    return ctx.redirect(safe_next(ctx.request.query_params.get("next"), "/"))
