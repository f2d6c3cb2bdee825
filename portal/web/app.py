"""Puts the web pages on the portal's FastAPI app: routers (none in the OpenAPI document,
which stays the integrator API's), static files, and HTML answers for errors."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from portal.web import i18n
from portal.web.context import LANG_COOKIE, environment, security_headers
from portal.web.security import SignInRequired, WebError

ERROR_KEYS = {403: "error.forbidden", 404: "error.not_found", 405: "error.not_found"}


def _lang(request: Request) -> str:
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in i18n.LANGUAGES:
        return chosen
    return i18n.from_accept_language(request.headers.get("accept-language")) or i18n.DEFAULT


def error_page(request: Request, status: int, field: str | None = None) -> Response:
    lang = _lang(request)
    t = i18n.Translator(lang)
    html = (
        environment()
        .get_template("error.html")
        .render(
            t=t,
            lang=lang,
            html_lang=i18n.HTML_LANG[lang],
            languages=i18n.LANGUAGES,
            language_names=i18n.NAMES,
            path=request.url.path,
            status=status,
            title=t(ERROR_KEYS.get(status, "error.bad_request")),
            field=field,
            session=None,
            csrf="",
        )
    )
    response = HTMLResponse(html, status_code=status)
    for name, value in security_headers(request.app.state.web.settings).items():
        response.headers.setdefault(name, value)
    return response


async def handle_web_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, SignInRequired):
        target = "/staff/sign-in" if exc.staff else "/sign-in"
        if request.method == "GET":
            target += f"?next={request.url.path}"
        return RedirectResponse(target, status_code=303)
    assert isinstance(exc, WebError)
    return error_page(request, exc.status_code, getattr(exc, "field", None))


def _is_web(request: Request) -> bool:
    return not request.url.path.startswith("/api/")


def install_web(app: FastAPI) -> None:
    from portal.web.auth import router as auth_router
    from portal.web.cabinet import router as cabinet_router
    from portal.web.dashboard import router as dashboard_router
    from portal.web.documents import router as documents_router
    from portal.web.identity import router as identity_router

    app.include_router(auth_router)
    app.include_router(cabinet_router)
    app.include_router(dashboard_router)
    app.include_router(identity_router)  # after auth: /sign-in/code is not a provider
    app.include_router(documents_router)
    app.mount("/static", StaticFiles(packages=[("portal", "static")]), name="static")
    app.add_exception_handler(WebError, handle_web_error)

    previous_http = app.exception_handlers.get(StarletteHTTPException)
    previous_validation = app.exception_handlers.get(RequestValidationError)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if _is_web(request) and exc.status_code in (404, 405):
            return error_page(request, 404)
        if previous_http is not None:
            return await previous_http(request, exc)  # type: ignore[misc]
        raise exc

    async def validation_error(request: Request, exc: Exception) -> Response:
        if _is_web(request):
            return error_page(request, 404)  # a malformed id is not found either
        if previous_validation is not None:
            return await previous_validation(request, exc)  # type: ignore[misc]
        raise exc

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
