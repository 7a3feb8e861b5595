"""Small things a new user sees in the first hour, in a real browser: times
that move on, counts in the singular, settings that apply, checkboxes beside
their labels, the server's messages as they are shown."""

from __future__ import annotations

from typing import Callable

import pytest
from playwright.sync_api import Page, expect

from conftest import Server, card

pytestmark = pytest.mark.browser

ONE = {"num_inference_steps": 1, "num_frames": 1}


def test_relative_times_move_on_without_a_reload(server: Server, open_page: Callable[..., Page]) -> None:
    job = server.create(prompt="made a while ago")
    page = open_page(server)
    page.clock.install()  # the page's timers and Date from here on, in the real time's stead
    page.reload()
    timing = card(page, job["id"]).locator(".timings")
    expect(timing).to_have_text("created just now")
    page.evaluate("(id) => { window.prompt0 = document.querySelector(`job-card[data-id='${id}'] .prompt`); }",
                  job["id"])
    page.clock.fast_forward("02:00")
    expect(timing).to_have_text("created 2m ago")
    page.clock.fast_forward("01:00:00")
    expect(timing).to_have_text("created 1h ago")
    # Only the line changed: the card was not built again.
    assert page.evaluate("(id) => window.prompt0 === document.querySelector(`job-card[data-id='${id}'] .prompt`)",
                         job["id"])


def test_counts_of_one_read_in_the_singular(server: Server, open_page: Callable[..., Page]) -> None:
    job = server.create(start=True, prompt="just one", **ONE)
    server.wait_status(job["id"], "completed")
    page = open_page(server, "/#/gallery")
    expect(page.locator("gallery-view .count")).to_have_text("1 video")
    page.goto(server.url + "/#/jobs")
    expect(page.locator("job-list .count")).to_have_text("1 job")
    expect(card(page, job["id"]).locator(".params")).to_contain_text("1 frame @ 16 fps · 1 step ·")


def test_a_preview_job_lists_no_offload_settings(server: Server, open_page: Callable[..., Page]) -> None:
    job = server.create(start=True, prompt="a preview")
    server.wait_status(job["id"], "completed")
    page = open_page(server, "/#/gallery")
    page.locator(f".tile[data-id='{job['id']}']").click()
    labels = page.locator("dialog.detail dt")
    expect(labels.first).to_be_visible()
    shown = labels.all_text_contents()
    assert "Steps" in shown and "Devices" in shown
    assert "Offload" not in shown and "FSDP inference" not in shown, shown


@pytest.mark.parametrize("width", [1280, 390])
def test_every_checkbox_sits_beside_its_label(server: Server, open_page: Callable[..., Page], width: int) -> None:
    page = open_page(server, width=width)
    page.locator("header [data-action=new-job]").click()
    # The dialog fills its model list before it opens: choosing earlier is undone when the list lands.
    expect(page.locator("dialog.create-job")).to_be_visible()
    # A FastVideo model, which has offload settings (listed, disabled, as fastvideo is not installed here).
    page.eval_on_selector("#cj-model_id", "(select) => { select.value = 'Wan-AI/Wan2.1-T2V-1.3B-Diffusers'; "
                          "select.dispatchEvent(new Event('change')); }")
    page.locator("dialog.create-job details.advanced summary").click()
    expect(page.locator("#cj-dit_cpu_offload")).to_be_disabled()  # under layer-by-layer offload, the default
    checks = page.locator("dialog.create-job .check")
    assert checks.count() >= 6
    for index in range(checks.count()):
        check = checks.nth(index)
        box = check.locator("input").bounding_box()
        label = check.locator("label").bounding_box()
        assert box and label
        name = check.get_attribute("data-field")
        assert label["x"] >= box["x"] + box["width"], f"{name}: the label is not to the right of its box"
        assert label["y"] < box["y"] + box["height"] and box["y"] < label["y"] + label["height"], \
            f"{name}: the label is not level with its box ({label} against {box})"


def test_too_many_devices_counts_them_in_words(server: Server, open_page: Callable[..., Page]) -> None:
    page = open_page(server)
    page.locator("header [data-action=new-job]").click()
    expect(page.locator("dialog.create-job")).to_be_visible()  # opened, its model list filled
    expect(page.locator("#cj-num_gpus-hint")).to_have_text("1 CPU slot on this server")
    page.fill("#cj-prompt", "two slots please")
    page.fill("#cj-num_gpus", "2")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#cj-num_gpus-error")).to_have_text(
        "asks for 2 CPU slots but this server has 1 CPU slot for fastvideo-ui/preview")
