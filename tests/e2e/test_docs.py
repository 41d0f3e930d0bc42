"""The API's documentation pages in a real Chromium (Debian's, driven by Playwright) with
every request to anywhere but the service refused: /docs (Swagger UI) and /redoc render the
operations from the service's own files, under their Content-Security-Policy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from dochooks.runtime import open_runtime
from tests.factories.clients import live_service
from tests.factories.stores import make_settings

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def service(db_url: str, tmp_path: Path) -> Iterator[str]:
    rt = open_runtime(make_settings(tmp_path, db_url))
    with live_service(rt, dispatch=False) as base:
        yield base
    rt.close()


class Offline:
    """A page whose requests reach only the service: every other one is aborted and noted,
    and so is every Content-Security-Policy violation or script error the page reports."""

    def __init__(self, page: Page, base: str) -> None:
        self.page = page
        self.host = urlsplit(base).netloc
        self.elsewhere: list[str] = []
        self.problems: list[str] = []
        page.route("**/*", self._route)
        page.on("console", lambda msg: msg.type == "error" and self.problems.append(msg.text))
        page.on("pageerror", lambda exc: self.problems.append(str(exc)))

    def _route(self, route: Route) -> None:
        url = urlsplit(route.request.url)
        ours = url.scheme in ("http", "https") and url.netloc == self.host
        if ours or url.scheme in ("data", "blob"):  # data: and blob: are made in the page, not fetched
            route.continue_()
        else:
            self.elsewhere.append(route.request.url)
            route.abort()


@pytest.fixture
def offline(browser: Browser, service: str) -> Iterator[Offline]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield Offline(context.new_page(), service)
    context.close()


@SQLITE_ONLY
def test_swagger_ui_renders_the_operations_offline(offline: Offline, service: str) -> None:
    answer = offline.page.goto(f"{service}/docs")
    assert answer is not None and answer.ok
    policy = answer.headers["content-security-policy"]
    # Scripts and styles fall back to default-src 'self': nothing inline, nothing from elsewhere.
    assert "default-src 'self';" in policy
    assert "script-src" not in policy and "style-src" not in policy and "unsafe" not in policy
    expect(offline.page.get_by_text("Upload a document")).to_be_visible(timeout=15_000)
    expect(offline.page.get_by_text("Add a webhook")).to_be_visible()
    expect(offline.page.locator(".opblock").first).to_be_visible()
    offline.page.get_by_text("Upload a document").click()  # the operation opens, with its answers
    expect(offline.page.get_by_text("An attribute is invalid").first).to_be_visible()
    assert offline.elsewhere == []
    assert offline.problems == []


@SQLITE_ONLY
def test_redoc_renders_the_operations_offline(offline: Offline, service: str) -> None:
    answer = offline.page.goto(f"{service}/redoc")
    assert answer is not None and answer.ok
    policy = answer.headers["content-security-policy"]
    assert "default-src 'self';" in policy and "script-src" not in policy and "unsafe-eval" not in policy
    expect(offline.page.get_by_role("heading", name="Upload a document")).to_be_visible(timeout=15_000)
    assert offline.elsewhere == []
    # ReDoc always tries its maker's logo from their CDN (and hides it when that fails): the
    # page's policy stops it in the browser, so it never leaves. Nothing else may be refused.
    logo = "https://cdn.redoc.ly/redoc/logo-mini.svg"
    assert [p for p in offline.problems if not (logo in p and "Content Security Policy" in p)] == []
