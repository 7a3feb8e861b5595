"""The web UI on a server with an API token: sign in once, then everything works by cookie."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from conftest import InProcessServer, Server, card, wait_for

TOKEN = "ui-1Q-iaL_7Q1a4bLIvvM-FR-gZxMO0"


def test_sign_in_once_then_jobs_events_and_video_work(start_server: Callable[..., Server],
                                                      open_page: Callable[..., Page]) -> None:
    server = start_server(env={"FASTVIDEO_UI_API_TOKEN": TOKEN})
    server.client.headers["Authorization"] = f"Bearer {TOKEN}"
    before = server.create(prompt="made before signing in")
    page = open_page(server)
    dialog = page.locator("login-dialog dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("job-card")).to_have_count(0)  # nothing shows before signing in

    page.fill("#login-token", "not-the-token-at-all")
    page.keyboard.press("Escape")  # cannot be dismissed
    expect(dialog).to_be_visible()
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#login-error")).to_have_text("That is not this server's token.")

    page.fill("#login-token", TOKEN)
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(card(page, before["id"])).to_be_visible()
    assert "ui-test-token" not in page.evaluate("document.cookie + JSON.stringify(localStorage)")

    # The event stream authenticates by cookie: a job made elsewhere arrives live and runs.
    job = server.create(prompt="arrives over SSE", start=True)
    ours = card(page, job["id"])
    expect(ours).to_be_visible()
    expect(ours.locator(".badge")).to_have_text("Completed", timeout=60_000)
    video = ours.locator("video")
    video.evaluate("v => { v.muted = true; return v.play(); }")
    wait_for(lambda: video.evaluate("v => v.readyState >= 2 && v.duration > 0"), what="the video to play")

    # Kept: a reload does not ask again. Signing out does, and ends the session
    # on the server: the cookie (named for this server's port) replayed is refused.
    page.reload()
    expect(card(page, job["id"])).to_be_visible()
    expect(dialog).to_be_hidden()
    [cookie] = page.context.cookies()
    assert cookie["name"] == f"fastvideo_ui_session_{server.port}" and cookie["httpOnly"]
    replay = {cookie["name"]: cookie["value"]}
    assert httpx.get(server.url + "/api/jobs", cookies=replay).status_code == 200
    page.get_by_role("button", name="Sign out").click()
    expect(dialog).to_be_visible()
    assert httpx.get(server.url + "/api/jobs", cookies=replay).status_code == 401


def test_no_sign_in_without_a_token(server: Server, open_page: Callable[..., Page]) -> None:
    page = open_page(server)
    expect(page.locator("job-list .empty")).to_contain_text("No jobs yet")
    expect(page.locator("login-dialog dialog")).to_be_hidden()
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()


def test_a_new_token_asks_the_open_page_to_sign_in_again(start_server: Callable[..., Server],
                                                         open_page: Callable[..., Page]) -> None:
    server = start_server(env={"FASTVIDEO_UI_API_TOKEN": TOKEN})
    page = open_page(server)
    page.fill("#login-token", TOKEN)
    page.keyboard.press("Enter")
    dialog = page.locator("login-dialog dialog")
    expect(dialog).to_be_hidden()

    # Restarted with another token: the page's cookie is no longer valid.
    server.terminate()
    server.env["FASTVIDEO_UI_API_TOKEN"] = TOKEN + "-rotated"
    server.start()
    expect(dialog).to_be_visible(timeout=45_000)
    page.fill("#login-token", TOKEN + "-rotated")
    page.keyboard.press("Enter")
    server.client.headers["Authorization"] = f"Bearer {TOKEN}-rotated"
    job = server.create(prompt="after the new token", start=True)
    expect(card(page, job["id"])).to_be_visible(timeout=20_000)


@pytest.mark.browser
def test_a_locked_out_address_is_told_to_wait_even_with_the_right_token(tmp_path: Path,
                                                                        open_page: Callable[..., Page]) -> None:
    server = InProcessServer(tmp_path / "data", ["--api-token", TOKEN])
    try:
        server.start()
        page = open_page(server)
        dialog = page.locator("login-dialog dialog")
        expect(dialog).to_be_visible()
        for guess in range(10):  # a guesser on this address (the browser's too: 127.0.0.1)
            httpx.get(server.url + "/api/jobs", headers={"Authorization": f"Bearer guess-{guess}-{TOKEN}"})
        page.fill("#login-token", TOKEN)
        page.keyboard.press("Enter")
        expect(page.locator("#login-error")).to_contain_text("Too many wrong tokens from this address; try again in")
        expect(dialog).to_be_visible()
        # A page whose cookie is no longer a session asks too, rather than failing quietly.
        page.context.add_cookies([{"name": f"fastvideo_ui_session_{server.port}", "value": "ended",
                                   "url": server.url}])
        page.reload()
        expect(dialog).to_be_visible()
    finally:
        server.terminate()
        server.client.close()
