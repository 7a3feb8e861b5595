"""The web UI's files as the server serves them: one port, no build step."""

from __future__ import annotations

from pathlib import Path

from conftest import Server

WEB = Path(__file__).resolve().parents[1] / "src" / "fastvideo_ui" / "web"


def test_every_module_is_served_with_its_type_and_compressed(server: Server) -> None:
    index = server.client.get("/", headers={"Accept-Encoding": "gzip"})
    assert index.status_code == 200 and "text/html" in index.headers["content-type"]
    assert '<script type="module" src="js/app.js">' in index.text
    files = sorted(path.relative_to(WEB).as_posix() for path in WEB.rglob("*") if path.is_file())
    assert "js/components/job-card.js" in files
    for name in files:
        response = server.client.get(f"/{name}", headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200, name
        if name.endswith(".js"):
            assert response.headers["content-type"].startswith("text/javascript"), name
        if len(response.content) > 1000 and not name.endswith(".svg"):
            assert response.headers.get("content-encoding") == "gzip", name


def test_no_third_party_urls_in_the_ui() -> None:
    """It works offline: no CDN, no web fonts, nothing fetched from elsewhere."""
    for path in WEB.rglob("*"):
        if path.is_file() and path.suffix in {".html", ".js", ".css"}:
            text = path.read_text()
            assert "http://" not in text and "https://" not in text, path
            assert "innerHTML" not in text, f"{path}: build DOM with textContent (ui.js h())"


def test_video_is_not_compressed_and_ranges_still_work(server: Server) -> None:
    job = server.create(start=True)
    server.wait_status(job["id"], "completed")
    url = f"/api/jobs/{job['id']}/video"
    whole = server.client.get(url, headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in whole.headers and whole.content[4:8] == b"ftyp"
    part = server.client.get(url, headers={"Accept-Encoding": "gzip", "Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100
    events = server.client.build_request("GET", "/api/events", headers={"Accept-Encoding": "gzip"})
    stream = server.client.send(events, stream=True)
    try:
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in stream.headers
    finally:
        stream.close()


def test_unknown_api_paths_are_json_404_for_every_method(server: Server) -> None:
    for method in ("GET", "POST", "DELETE", "PUT"):
        response = server.client.request(method, "/api/nothing/here")
        assert response.status_code == 404 and response.json() == {"detail": "Not Found"}, method


def test_security_headers_on_pages_api_and_streams(server: Server) -> None:
    for path in ("/", "/js/app.js", "/api/jobs", "/api/nothing"):
        headers = server.client.get(path).headers
        assert headers["x-content-type-options"] == "nosniff", path
        policy = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy, path
        assert "unsafe-inline" not in policy
    with server.client.stream("GET", "/api/events") as stream:
        assert stream.headers["x-content-type-options"] == "nosniff"
    # The interactive docs too (tests/test_api_docs.py shows they work under it).
    docs = server.client.get("/docs")
    assert docs.status_code == 200 and docs.headers["content-security-policy"] == policy
    assert docs.headers["x-frame-options"] == "DENY"


def test_the_ui_runs_under_its_policy_without_violations(server: Server, open_page) -> None:  # type: ignore[no-untyped-def]
    violations: list[str] = []
    server.create(start=True)
    page = open_page(server, init_script="""
        document.addEventListener('securitypolicyviolation', (e) => {
            (window.__violations ||= []).push(e.violatedDirective + ' ' + e.blockedURI);
        });""")
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.wait_for_selector("job-card[data-status='completed'] video")
    page.locator("job-card [data-action=logs]").click()
    page.wait_for_selector("dialog.log-dialog .log-output:not(:empty)")
    page.keyboard.press("Escape")
    page.goto(server.url + "/#/gallery")
    page.wait_for_selector(".tile img")
    page.locator(".tile").hover()
    page.wait_for_selector(".tile video")
    assert page.evaluate("window.__violations || []") == [] and violations == []
