"""/docs: Swagger UI served from the package, so it works offline and under
the same Content-Security-Policy as the UI."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest

from conftest import Server
from fastvideo_ui.api.security import CONTENT_SECURITY_POLICY

VIOLATIONS = """
    document.addEventListener('securitypolicyviolation', (e) => {
        (window.__violations ||= []).push(e.violatedDirective + ' ' + e.blockedURI);
    });"""


class PageParts(HTMLParser):
    """What a page loads, and anything the policy would have to allow inline."""

    def __init__(self) -> None:
        super().__init__()
        self.assets: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        self.inline += [f"{tag} {name}" for name, _ in attrs if name == "style" or name.startswith("on")]
        if tag == "style":
            self.inline.append("a <style> element")
        if tag == "script":
            self._in_script = True
            if named.get("src"):
                self.assets.append(str(named["src"]))
        if tag == "link" and named.get("href"):
            self.assets.append(str(named["href"]))

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(f"script: {data.strip()[:60]}")


@pytest.mark.slow
def test_docs_load_only_this_servers_files_with_no_inline_script(server: Server) -> None:
    page = server.client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    parts = PageParts()
    parts.feed(page.text)
    assert parts.inline == []
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in parts.assets), parts.assets
    for asset in parts.assets:
        url = urljoin(f"{server.url}/docs", asset)
        assert urlsplit(url).netloc == f"127.0.0.1:{server.port}", asset
        served = server.client.get(url)
        assert served.status_code == 200, asset
        assert served.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, asset
        kind = {"js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}[asset.rsplit(".", 1)[-1]]
        assert served.headers["content-type"].startswith(kind), asset
    # No second docs page that would need a CDN.
    assert server.client.get("/redoc").status_code == 404


@pytest.mark.browser
def test_docs_list_the_operations_offline_under_the_policy(server: Server, browser: Any) -> None:
    context = browser.new_context()
    elsewhere: list[str] = []
    errors: list[str] = []
    console: list[str] = []

    def offline(route: Any) -> None:  # as on a machine with no network: only this server answers
        if route.request.url.startswith(server.url + "/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    try:
        context.route("**/*", offline)
        context.add_init_script(VIOLATIONS)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda m: console.append(m.text) if "Content Security Policy" in m.text else None)
        page.goto(server.url + "/docs")
        page.wait_for_selector(".opblock-summary-path[data-path='/api/jobs']")
        assert page.locator(".opblock").count() > 20  # the whole API, not one stray operation
        # "Try it out" reaches the API from the page.
        health = page.locator(".opblock", has=page.locator(".opblock-summary-path[data-path='/api/health']"))
        health.locator(".opblock-summary").click()
        health.locator("button.try-out__btn").click()
        health.locator("button.execute").click()
        page.wait_for_selector(".opblock.is-open .live-responses-table .response-col_status:text('200')")
        assert page.evaluate("window.__violations || []") == [] and console == []
        assert elsewhere == [] and errors == []
    finally:
        context.close()
