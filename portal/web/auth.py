"""Sign-in and sign-out: taxpayers with PINFL + a one-time code (sent through the bot to
the linked Telegram chat, else by the SMS stub: the OneID stand-in), STC staff with a
username and password; the language switch."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from fastapi import APIRouter, Request
from fastapi.responses import Response

from contracts.redaction import mask_pinfl
from portal.web import i18n
from portal.web.context import Ctx, Page
from portal.web.identity import end_provider_session
from portal.web.security import (
    USERNAME_RE,
    dummy_hash,
    safe_next,
    valid_pinfl,
    verify_password,
)

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _window(ctx: Ctx) -> dt.timedelta:
    return dt.timedelta(seconds=ctx.services.settings.portal_throttle_window_s)


async def _throttled(ctx: Ctx, *limits: tuple[str, int]) -> bool:
    web, now = ctx.services, ctx.services.clock.now()
    for key, limit in limits:
        if await asyncio.to_thread(web.throttles.failures, key, now, _window(ctx)) >= limit:
            return True
    return False


async def _fail(ctx: Ctx, *keys: str) -> None:
    web, now = ctx.services, ctx.services.clock.now()
    for key in keys:
        await asyncio.to_thread(web.throttles.fail, key, now, _window(ctx))


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
    form = await ctx.request.form()
    pinfl = str(form.get("pinfl", "")).strip().replace(" ", "")
    if not valid_pinfl(pinfl):
        return ctx.render("sign_in.html", 400, error=ctx.t("signin.bad_pinfl"), pinfl=pinfl)
    settings = ctx.services.settings
    address = f"send:{_client(ctx.request)}"
    if await _throttled(ctx, (address, settings.portal_address_max_failures)):
        return ctx.render("sign_in.html", 429, error=ctx.t("signin.throttled"), pinfl="")
    await _fail(ctx, address)  # every code sent counts against the address (SMS bombing)
    result = await ctx.services.notifier.send_sign_in_code(pinfl)
    await asyncio.to_thread(ctx.services.sessions.set_pending, ctx.session.token_sha256, pinfl)
    log.info("portal sign-in code for %s: %s", mask_pinfl(pinfl), result.channel or result.reason)
    notice = "signin.code_sent"
    if not result.sent and result.reason == "too_soon":
        notice = "signin.code_recent"
    return ctx.redirect(f"/sign-in/code?notice={notice}")


@router.get("/sign-in/code")
async def code_form(ctx: Page) -> Response:
    if not ctx.session.pending_pinfl:
        return ctx.redirect("/sign-in")
    notice = ctx.request.query_params.get("notice", "")
    notice = notice if notice in ("signin.code_sent", "signin.code_recent") else ""
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
    by_pinfl, by_address = f"code:{pinfl}", f"ip:{_client(ctx.request)}"

    def again(status: int, key: str) -> Response:
        return ctx.render(
            "sign_in_code.html", status, error=ctx.t(key), notice="", masked=mask_pinfl(pinfl)
        )

    if await _throttled(
        ctx,
        (by_pinfl, settings.portal_code_max_failures),
        (by_address, settings.portal_address_max_failures),
    ):
        log.warning("portal sign-in throttled for %s", mask_pinfl(pinfl))
        return again(429, "signin.throttled")
    outcome = "wrong"
    if code.isascii() and code.isdigit() and len(code) == 6:
        outcome = await asyncio.to_thread(ctx.services.notifier.verify_sign_in_code, pinfl, code)
    if outcome == "ok":
        await asyncio.to_thread(ctx.services.throttles.clear, by_pinfl)
        await ctx.start_session("taxpayer", pinfl)
        log.info("portal: %s signed in", mask_pinfl(pinfl))
        return ctx.redirect("/cabinet")
    await _fail(ctx, by_pinfl, by_address)
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
    by_user, by_address = f"staff:{username}", f"ip:{_client(ctx.request)}"
    if await _throttled(
        ctx,
        (by_user, settings.portal_staff_max_failures),
        (by_address, settings.portal_address_max_failures),
    ):
        return ctx.render(
            "staff_sign_in.html",
            429,
            error=ctx.t("signin.throttled"),
            username=username,
            request_next=ctx.next_url(""),
        )
    account = None
    if USERNAME_RE.fullmatch(username):
        account = await asyncio.to_thread(ctx.services.staff.get, username)
    stored = account.password_hash if account is not None and not account.disabled else None
    ok = await asyncio.to_thread(verify_password, stored or dummy_hash(), password)
    if not ok or stored is None:
        await _fail(ctx, by_user, by_address)
        return ctx.render(
            "staff_sign_in.html",
            400,
            error=ctx.t("staff.signin_wrong"),
            username=username,
            request_next=ctx.next_url(""),
        )
    await asyncio.to_thread(ctx.services.throttles.clear, by_user)
    await ctx.start_session("staff", account.username, account.role)  # type: ignore[union-attr]
    log.info("portal: staff %s signed in", username)
    return ctx.redirect(ctx.next_url("/dashboard"))


@router.get("/lang/{lang}")
async def switch_language(lang: str, ctx: Page) -> Response:
    """A preference, not a state change of the service: a plain link works without JS."""
    if lang in i18n.LANGUAGES:
        ctx.set_lang = lang
    return ctx.redirect(safe_next(ctx.request.query_params.get("next"), "/"))
