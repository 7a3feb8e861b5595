"""The README's screenshots, taken from the real UI, and the layout checks
that go with them (phone width, dark mode).

    FASTVIDEO_UI_SCREENSHOTS=docs/screenshots ./scripts/test.sh tests/test_web_screenshots.py

writes the PNGs the README shows; without the variable they go to a temp dir.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from playwright.sync_api import Page, expect

from conftest import LONG, Server, wait_for

PROMPTS = [
    "A red fox trotting through fresh snow at dawn, soft golden light",
    "Paper lanterns drifting over a quiet river at night",
    "A lighthouse on a cliff in a storm, waves breaking below",
    "Macro shot of dew on a spider web, shallow depth of field",
    "An old tram crossing a bridge in the fog",
    "Koi fish circling in a green pond, top-down view",
]


def shots_dir(tmp_path: Path) -> Path:
    target = Path(os.environ.get("FASTVIDEO_UI_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


def populate(server: Server) -> dict[str, Any]:
    done = [server.create(start=True, prompt=prompt, seed=11 + i, height=240, width=416, num_frames=17,
                          num_inference_steps=20) for i, prompt in enumerate(PROMPTS)]
    for job in done:
        server.wait_status(job["id"], "completed")
    stopped = server.create(start=True, prompt="Timelapse of clouds over mountains (stopped: wrong aspect)", **LONG)
    server.wait_status(stopped["id"], "running")
    server.client.post(f"/api/jobs/{stopped['id']}/stop")
    server.wait_status(stopped["id"], "stopped")
    running = server.create(start=True, prompt="A hot-air balloon rising over a desert canyon at sunrise", **LONG)
    queued = server.create(start=True, prompt="Rain on a neon-lit street, reflections, slow pan")
    server.wait_status(running["id"], "running")
    wait_for(lambda: server.job(running["id"])["progress"] > 3, what="some progress")
    return {"running": running, "queued": queued}


def no_horizontal_overflow(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_screenshots_of_jobs_and_gallery(server: Server, open_page: Callable[..., Page], tmp_path: Path) -> None:
    out = shots_dir(tmp_path)
    jobs = populate(server)
    page = open_page(server, width=1280, height=1000)
    expect(page.locator(f"job-card[data-id='{jobs['queued']['id']}'] .badge")).to_have_text("Queued")
    expect(page.locator(f"job-card[data-id='{jobs['running']['id']}'] .progress-text")).to_contain_text("ETA")
    # Videos load nothing before play (preload=none); their posters are images.
    page.wait_for_load_state("networkidle")
    assert page.evaluate("[...document.querySelectorAll('job-card video')].every(v => v.poster)")
    page.screenshot(path=str(out / "jobs.png"))
    assert no_horizontal_overflow(page)

    page.goto(server.url + "/#/gallery")
    expect(page.locator(".tile")).to_have_count(len(PROMPTS))
    # Polled from here: wait_for_function evaluates a string, which the page's CSP forbids.
    loaded = "[...document.querySelectorAll('.tile img')].every(i => i.complete && i.naturalWidth > 0)"
    wait_for(lambda: page.evaluate(loaded))
    page.screenshot(path=str(out / "gallery.png"))

    page.locator("header [data-action=new-job]").click()
    expect(page.locator("dialog.create-job")).to_be_visible()
    page.fill("#cj-prompt", "A red fox trotting through fresh snow at dawn")
    page.screenshot(path=str(out / "create-dialog.png"))

    phone = open_page(server, width=390, height=844, color_scheme="dark")
    expect(phone.locator("job-card").first).to_be_visible()
    assert no_horizontal_overflow(phone), "the jobs view scrolls sideways at phone width"
    phone.screenshot(path=str(out / "jobs-phone-dark.png"))
    background = phone.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background != "rgb(246, 247, 249)", "dark mode did not follow the system setting"
    server.client.post(f"/api/jobs/{jobs['running']['id']}/stop")


def test_keyboard_only_creation(server: Server, open_page: Callable[..., Page]) -> None:
    page = open_page(server)
    expect(page.locator("job-list .empty")).to_be_visible()
    page.keyboard.press("n")
    expect(page.locator("dialog.create-job")).to_be_visible()
    expect(page.locator("#cj-prompt")).to_be_focused()
    page.keyboard.type("typed without a mouse")
    for name, value in {"height": "64", "width": "64", "num_frames": "4", "num_inference_steps": "3"}.items():
        page.fill(f"#cj-{name}", value)
    page.keyboard.press("Control+Enter")
    expect(page.locator("job-card .badge")).to_have_text("Completed", timeout=30_000)
    expect(page.locator("#announcer")).not_to_be_empty()
    # Card actions are buttons reachable by Tab.
    page.locator("job-card [data-action=duplicate]").focus()
    page.keyboard.press("Enter")
    expect(page.locator("dialog.create-job h2")).to_have_text("Duplicate job")
