"""Compare in a real browser: jobs picked in the jobs list (or the gallery) open
side by side, each pane naming what differs; playback stays in sync; the wipe
slider moves; the selection refuses fewer than 2 or more than 4 jobs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from playwright.sync_api import Page, expect

from conftest import Server, card, wait_for
from test_web_screenshots import shots_dir

PROMPT = "A red fox trotting through fresh snow at dawn"
# About three seconds of video each: long enough to watch two play together.
SHORT = {"height": 96, "width": 160, "num_frames": 49, "num_inference_steps": 4}


def completed(server: Server, **body: Any) -> dict[str, Any]:
    job = server.create(start=True, prompt=PROMPT, **SHORT, **body)
    return server.wait_status(job["id"], "completed")


def pick(page: Page, job_id: str, picked: bool = True) -> None:
    box = card(page, job_id).locator(".pick-box")
    if picked:
        box.check()
    else:
        box.uncheck()


def spread(page: Page) -> float:
    """How far apart the compared videos are now (s), read in one go."""
    times = page.evaluate("[...document.querySelectorAll('compare-view video')].map((v) => v.currentTime)")
    assert len(times) >= 2
    return max(times) - min(times)


def test_pick_two_compare_side_by_side_in_sync_and_wipe(server: Server, open_page: Callable[..., Page],
                                                        tmp_path: Path) -> None:
    a = completed(server, seed=1, guidance_scale=3)
    b = completed(server, seed=2, guidance_scale=7)
    pending = [server.create(prompt=f"not run {i}") for i in range(3)]
    page = open_page(server)
    bar = page.locator("compare-bar")
    button = bar.locator("[data-action=compare]")
    expect(card(page, a["id"])).to_be_visible()
    expect(bar).to_be_hidden()

    # One job: refused, and the bar says why.
    pick(page, a["id"])
    expect(bar).to_be_visible()
    expect(button).to_have_text("Compare (1)")
    expect(button).to_have_attribute("aria-disabled", "true")
    expect(bar.locator(".compare-why")).to_have_text("Pick one more job to compare")
    button.click(force=True)  # aria-disabled: reachable, and it only says why
    assert "#/compare" not in page.url

    # Five: refused too.
    pick(page, b["id"])
    for job in pending:
        pick(page, job["id"])
    expect(button).to_have_text("Compare (5)")
    expect(button).to_have_attribute("aria-disabled", "true")
    expect(bar.locator(".compare-why")).to_contain_text("at most 4 jobs: unpick 1 job")
    button.click(force=True)  # aria-disabled: reachable, and it only says why
    assert "#/compare" not in page.url

    # Three, one of them never run: it has no video.
    pick(page, pending[0]["id"], False)
    pick(page, pending[1]["id"], False)
    expect(bar.locator(".compare-why")).to_contain_text("Only completed jobs have a video: 1 picked job is pending")
    pick(page, pending[2]["id"], False)
    expect(button).to_have_attribute("aria-disabled", "false")
    expect(bar.locator(".compare-why")).to_have_text("")

    # The gallery shares the selection.
    page.locator("nav [data-view=gallery]").click()
    for job in (a, b):
        expect(page.locator(f".tile-box:has(.tile[data-id='{job['id']}']) .pick-box")).to_be_checked()
    expect(button).to_have_text("Compare (2)")
    button.click()
    expect(page).to_have_url(f"{server.url}/#/compare?ids={a['id']},{b['id']}")
    expect(bar).to_be_hidden()

    view = page.locator("compare-view")
    panes = view.locator(".compare-pane")
    expect(panes).to_have_count(2)
    expect(view.locator(".compare-common")).to_have_text(f"Prompt (all): {PROMPT}")
    for pane, job in zip((panes.nth(0), panes.nth(1)), (a, b), strict=True):
        expect(pane).to_have_attribute("data-id", job["id"])
        expect(pane.locator("video")).to_have_attribute("src", job["video_url"])
        # What differs, and only that: the seed and the guidance scale.
        expect(pane.locator(".differs li")).to_have_text(
            [f"Guidance scale: {job['guidance_scale']:g}", f"Seed: {job['seed']}"])  # in the spec's order

    # One play drives both; while they play they stay within 0.1 s of each other.
    controls = view.locator("sync-controls")
    expect(controls.locator("button")).to_be_enabled()
    controls.locator("button").click()
    expect(controls.locator("button")).to_have_attribute("aria-label", "Pause")
    wait_for(lambda: page.evaluate("[...document.querySelectorAll('compare-view video')]"
                                   ".every((v) => !v.paused && v.currentTime > 0.3)"), what="both videos to play")
    worst = 0.0
    for _ in range(12):
        worst = max(worst, spread(page))
        time.sleep(0.1)
    assert worst < 0.1, f"the videos drifted {worst:.3f} s apart"
    page.screenshot(path=str(shots_dir(tmp_path) / "compare.png"))

    # The wipe: B clipped over A at a divider the keyboard and the pointer move.
    view.locator("[data-mode=wipe]").click()
    expect(view.locator("[data-mode=wipe]")).to_have_attribute("aria-pressed", "true")
    assert page.url.endswith("&mode=wipe")
    wipe = view.locator(".wipe")
    expect(wipe.locator("video")).to_have_count(2)
    divider = wipe.locator("[role=slider]")
    expect(divider).to_have_attribute("aria-valuenow", "50")
    clip = "getComputedStyle(document.querySelector('.wipe video.wipe-second')).clipPath"
    assert page.evaluate(clip) == "inset(0px 0px 0px 50%)"
    divider.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    expect(divider).to_have_attribute("aria-valuenow", "55")
    page.keyboard.press("Home")
    expect(divider).to_have_attribute("aria-valuenow", "0")
    box = wipe.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2, steps=4)
    page.mouse.up()
    wait_for(lambda: abs(float(divider.get_attribute("aria-valuenow") or "-1") - 25) < 1, what="the drag")
    assert page.evaluate(clip).startswith("inset(0px 0px 0px 2")
    # Moved into the wipe, the videos play on, still together.
    wait_for(lambda: page.evaluate("[...document.querySelectorAll('.wipe video')].every((v) => !v.paused)"),
             what="playing on in the wipe")
    assert spread(page) < 0.1

    # Close: back to the gallery it was opened from, the selection kept.
    view.locator("[data-action=close-compare]").click()
    expect(page).to_have_url(f"{server.url}/#/gallery")
    expect(page.locator("#view-gallery")).to_be_visible()
    assert page.evaluate("[...document.querySelectorAll('compare-view video')].length") == 0
    expect(button).to_have_text("Compare (2)")


def test_a_compare_link_with_too_many_or_missing_jobs_says_so(server: Server, open_page: Callable[..., Page]) -> None:
    a = completed(server, seed=5)
    page = open_page(server, f"/#/compare?ids={a['id']}")
    message = page.locator("compare-view .compare-message")
    expect(message).to_have_text("Compare takes 2 to 4 jobs; this link names 1 job.")
    page.goto(f"{server.url}/#/compare?ids={','.join([a['id']] * 5)}")
    expect(message).to_have_text("Compare takes 2 to 4 jobs; this link names 5 jobs.")
    gone = "00000000-0000-4000-8000-000000000000"
    page.goto(f"{server.url}/#/compare?ids={a['id']},{gone}")
    expect(message).to_contain_text(f"No job {gone}")
    # Opened on a link, Close goes to the jobs view.
    page.locator("compare-view [data-action=close-compare]").click()
    expect(page).to_have_url(f"{server.url}/#/jobs")
    expect(card(page, a["id"])).to_be_visible()
