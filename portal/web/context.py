"""The request context of every page: the session (made on first visit, rotated at sign-in),
the language, the CSRF check of every POST, rendering and cookies.

Routes take ``ctx: Page``; POST routes are checked for their CSRF token in
``page`` itself, so no form can forget it. Object-level checks stay in the routes: they
pass the signed-in PINFL to services that only ever return that taxpayer's data.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import re
from typing import Annotated, Any

import jinja2
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from contracts.redaction import mask_pinfl
from core.clock import TASHKENT
from portal.web import i18n
from portal.web.security import (
    Forbidden,
    SignInRequired,
    csrf_ok,
    new_token,
    safe_next,
    token_hash,
)
from storage.portal.sessions import SessionRecord

LANG_COOKIE = "proactax_lang"
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def security_headers(settings: Any) -> dict[str, str]:
    """The headers of every page; HSTS wherever the portal is served over HTTPS (Secure
    cookies on), so a browser never tries plain HTTP again."""
    if not settings.portal_cookie_secure or settings.portal_hsts_max_age_s <= 0:
        return SECURITY_HEADERS
    hsts = f"max-age={settings.portal_hsts_max_age_s}; includeSubDomains"
    return {**SECURITY_HEADERS, "Strict-Transport-Security": hsts}


def session_cookie_name(secure: bool) -> str:
    # The __Host- prefix pins the cookie to this host and path /, and needs Secure.
    return "__Host-proactax" if secure else "proactax_session"


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("portal", "templates"),
        autoescape=jinja2.select_autoescape(["html", "svg", "xml"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["masked"] = mask_pinfl
    return env


class Formats:
    """Numbers and dates the way each language writes them."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def number(self, value: int | float, decimals: int = 0) -> str:
        text = f"{value:,.{decimals}f}"
        if self.lang == "en":
            return text
        return text.replace(",", "\u00a0").replace(".", ",")

    def money(self, tiyin: int | None) -> str:
        if tiyin is None:
            return "—"
        sign = "−" if tiyin < 0 else ""
        soum, rest = divmod(abs(int(tiyin)), 100)
        whole = self.number(soum)
        sep = "." if self.lang == "en" else ","
        return f"{sign}{whole}{sep}{rest:02d}"

    def date(self, value: dt.date | str | None) -> str:
        if value is None or value == "":
            return "—"
        if isinstance(value, str):
            value = dt.date.fromisoformat(value[:10])
        if isinstance(value, dt.datetime):
            value = value.astimezone(TASHKENT).date()
        return value.strftime("%d.%m.%Y")

    def when(self, value: dt.datetime | None) -> str:
        if value is None:
            return "—"
        return value.astimezone(TASHKENT).strftime("%d.%m.%Y %H:%M")


class Ctx:
    def __init__(self, request: Request, session: SessionRecord, lang: str) -> None:
        self.request = request
        self.services = request.app.state.web
        self.session = session
        self.lang = lang
        self.t = i18n.Translator(lang)
        self.fmt = Formats(lang)
        self.set_session_token: str | None = None
        self.set_lang: str | None = None
        self.stored = True  # False: an anonymous visitor whose session has no row yet

    @property
    def csrf(self) -> str:
        return self.session.csrf_token

    @property
    def pinfl(self) -> str | None:
        return self.session.subject if self.session.kind == "taxpayer" else None

    @property
    def staff_role(self) -> str | None:
        return self.session.role if self.session.kind == "staff" else None

    def render(self, template: str, status_code: int = 200, **values: Any) -> Response:
        html = (
            environment()
            .get_template(template)
            .render(
                t=self.t,
                fmt=self.fmt,
                lang=self.lang,
                html_lang=i18n.HTML_LANG[self.lang],
                languages=i18n.LANGUAGES,
                language_names=i18n.NAMES,
                csrf=self.csrf,
                session=self.session,
                path=self.request.url.path,
                sign_in_providers=self.services.providers,
                **values,
            )
        )
        return self.finish(HTMLResponse(html, status_code=status_code))

    def redirect(self, url: str) -> Response:
        return self.finish(RedirectResponse(url, status_code=303))

    def finish(self, response: Response) -> Response:
        settings = self.services.settings
        secure = settings.portal_cookie_secure
        if self.set_session_token is not None:
            response.set_cookie(
                session_cookie_name(secure),
                self.set_session_token,
                max_age=settings.portal_session_max_s,
                path="/",
                secure=secure,
                httponly=True,
                samesite="lax",
            )
        if self.set_lang is not None:
            response.set_cookie(
                LANG_COOKIE,
                self.set_lang,
                max_age=365 * 86400,
                path="/",
                secure=secure,
                httponly=True,
                samesite="lax",
            )
        for name, value in security_headers(settings).items():
            response.headers.setdefault(name, value)
        return response

    async def ensure_session(self) -> None:
        """Store the anonymous visitor's session (kept token and CSRF token) if not yet."""
        if self.stored:
            return
        s, web = self.session, self.services
        self.session = await asyncio.to_thread(
            web.sessions.create,
            s.token_sha256,
            s.kind,
            s.subject,
            s.role,
            s.csrf_token,
            s.created_at,
            s.expires_at,
            s.pending_pinfl,
            s.token_sha256,  # a stale row of the same token (expired) is replaced
        )
        self.stored = True

    async def start_session(self, kind: str, subject: str, role: str = "") -> None:
        """Sign in: a brand-new session replaces the current one (no fixation)."""
        self.session = await self._new_session(kind, subject, role, self.session.token_sha256)

    async def end_session(self) -> None:
        """Sign out: the stored session is deleted; the visitor gets a new, unstored one."""
        web = self.services
        await asyncio.to_thread(web.sessions.delete, self.session.token_sha256)
        token = new_token()
        self.session = anonymous(token, web.clock.now(), web.settings.portal_session_idle_s)
        self.stored = False
        self.set_session_token = token

    async def _new_session(
        self, kind: str, subject: str, role: str, replaces: str | None
    ) -> SessionRecord:
        web = self.services
        now = web.clock.now()
        token = new_token()
        record = await asyncio.to_thread(
            web.sessions.create,
            token_hash(token),
            kind,
            subject,
            role,
            new_token(),
            now,
            now + dt.timedelta(seconds=web.settings.portal_session_idle_s),
            "",
            replaces,
        )
        self.set_session_token = token
        return record

    def require_taxpayer(self) -> str:
        if self.session.kind == "taxpayer":
            return self.session.subject
        if self.session.kind == "staff":
            raise Forbidden("staff accounts have no cabinet")
        raise SignInRequired(staff=False)

    def require_staff(self, role: str | None = None) -> str:
        if self.session.kind == "staff":
            if role is not None and self.session.role != role:
                raise Forbidden(f"needs the {role} role")
            return self.session.subject
        if self.session.kind == "taxpayer":
            raise Forbidden("a taxpayer is not STC staff")
        raise SignInRequired(staff=True)

    def next_url(self, default: str) -> str:
        return safe_next(self.request.query_params.get("next"), default)


def choose_language(request: Request, session: SessionRecord | None) -> str:
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in i18n.LANGUAGES:
        return chosen
    web = request.app.state.web
    if session is not None and session.kind == "taxpayer":
        person = web.people.get(session.subject)
        if person is not None and person.preferred_language:
            return i18n.resolve(person.preferred_language)
    return i18n.from_accept_language(request.headers.get("accept-language")) or i18n.DEFAULT


async def load_session(request: Request) -> tuple[SessionRecord | None, str | None]:
    """The session named by the cookie, if live (and kept alive); else None."""
    web = request.app.state.web
    settings = web.settings
    token = request.cookies.get(session_cookie_name(settings.portal_cookie_secure))
    if not token:
        return None, None
    digest = token_hash(token)
    now = web.clock.now()
    record: SessionRecord | None = await asyncio.to_thread(web.sessions.get, digest, now)
    if record is None:
        return None, None
    if record.created_at + dt.timedelta(seconds=settings.portal_session_max_s) <= now:
        await asyncio.to_thread(web.sessions.delete, digest)
        return None, None
    idle = dt.timedelta(seconds=settings.portal_session_idle_s)
    if record.expires_at - now < idle - dt.timedelta(seconds=60):  # touch once a minute
        await asyncio.to_thread(web.sessions.touch, digest, now, now + idle)
    return record, token


def anonymous(token: str, now: dt.datetime, idle_s: int) -> SessionRecord:
    """A visitor without a stored session: nothing is written until it is needed (a code
    asked for, a sign-in). Its CSRF token is derived from the cookie's random token, so a
    form works without a row, and keeps working once the row exists."""
    return SessionRecord(
        token_sha256=token_hash(token),
        kind="anonymous",
        subject="",
        role="",
        csrf_token=token_hash("csrf|" + token),
        pending_pinfl="",
        created_at=now,
        expires_at=now + dt.timedelta(seconds=idle_s),
    )


async def page(request: Request) -> Ctx:
    """The dependency of every page: session (stored lazily), language, CSRF on POST."""
    web = request.app.state.web
    settings = web.settings
    record, token = await load_session(request)
    stored = record is not None
    fresh: str | None = None
    if record is not None and record.kind == "staff":
        # The role is read on every request: a demoted or disabled account loses it now.
        account = await asyncio.to_thread(web.staff.get, record.subject)
        if account is None or account.disabled:
            await asyncio.to_thread(web.sessions.delete, record.token_sha256)
            record, stored = None, False
        elif account.role != record.role:
            record = dataclasses.replace(record, role=account.role)
    if record is None:
        token = request.cookies.get(session_cookie_name(settings.portal_cookie_secure))
        if not token or not TOKEN_RE.fullmatch(token):
            token = fresh = new_token()
        record = anonymous(token, web.clock.now(), settings.portal_session_idle_s)
    lang = await asyncio.to_thread(choose_language, request, record)
    ctx = Ctx(request, record, lang)
    ctx.stored = stored
    ctx.set_session_token = fresh
    if request.method == "POST":
        form = await request.form()
        if fresh is not None or not csrf_ok(record.csrf_token, form.get("csrf_token")):
            raise Forbidden("the form's CSRF token is missing or wrong")
    return ctx


Page = Annotated[Ctx, Depends(page)]
