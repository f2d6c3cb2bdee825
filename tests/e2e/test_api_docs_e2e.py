"""/docs (Swagger UI) and /redoc (ReDoc) render every operation with no network but the
portal's own: the real portal process, Debian's Chromium, and every request to a host other
than 127.0.0.1 refused (and recorded: the pages must try none but ReDoc's footer logo)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from core.settings import Settings
from tests.support.portal import Portal, running_portal

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
METHODS = ("get", "post", "put", "patch", "delete")
# ReDoc's "API docs by Redocly" footer shows a logo from its CDN and cannot be told not to;
# offline the image is missing and nothing else changes. Any other outside request fails.
DECORATIVE = {"https://cdn.redoc.ly/redoc/logo-mini.svg"}


@pytest.fixture
def portal(pipeline_settings: Settings, tmp_path: Path) -> Iterator[Portal]:
    with running_portal(pipeline_settings, tmp_path / "portal.log", "docs test") as running:
        yield running


def _operations(base_url: str) -> list[tuple[str, str, str]]:
    """(METHOD, path, summary) of every operation the OpenAPI document lists."""
    spec = httpx.get(f"{base_url}/openapi.json", timeout=10).json()
    return [
        (method.upper(), path, op["summary"])
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def _offline_page(browser: Any, base_url: str, refused: list[str], errors: list[str]) -> Any:
    context = browser.new_context(base_url=base_url)

    def only_local(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", only_local)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_swagger_ui_and_redoc_render_every_operation_offline(portal: Portal) -> None:
    from playwright.sync_api import sync_playwright

    operations = _operations(portal.base_url)
    assert ("POST", "/api/v1/registries/{registry}/events") in {(m, p) for m, p, _ in operations}
    html = httpx.get(f"{portal.base_url}/docs", timeout=10).text
    assert "cdn" not in html.lower() and "/api-docs-assets/swagger-ui-bundle.js" in html
    refused: list[str] = []
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = _offline_page(browser, portal.base_url, refused, errors)
            page.goto("/docs")
            page.locator(".opblock").first.wait_for()
            shown = {
                (
                    block.locator(".opblock-summary-method").inner_text().strip(),
                    block.locator(".opblock-summary-path").get_attribute("data-path"),
                )
                for block in page.locator(".opblock").all()
            }
            assert shown == {(m, p) for m, p, _ in operations}

            page = _offline_page(browser, portal.base_url, refused, errors)
            page.goto("/redoc")
            page.locator("h2", has_text=operations[0][2]).first.wait_for()
            headings = {h.strip() for h in page.locator("h2").all_inner_texts()}
            missing = [summary for _, _, summary in operations if summary not in headings]
            assert not missing, f"ReDoc does not show {missing}"
        finally:
            browser.close()
    assert set(refused) <= DECORATIVE, f"the pages tried to leave 127.0.0.1: {refused}"
    assert errors == [], errors
