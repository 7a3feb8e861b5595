"""The jobs view in a real browser against the real server: the job lifecycle
from the create dialog to a played and downloaded video, and every action."""

from __future__ import annotations

import re
from typing import Any, Callable

import pytest
from playwright.sync_api import Page, expect

from conftest import LONG, Server, card, wait_for



def open_create(page: Page) -> Any:
    page.locator("header [data-action=new-job]").click()
    dialog = page.locator("dialog.create-job")
    expect(dialog).to_be_visible()
    return dialog


def fill_small(page: Page, prompt: str, **fields: Any) -> None:
    page.fill("#cj-prompt", prompt)
    values = {"height": 64, "width": 64, "num_frames": 4, "num_inference_steps": 3} | fields
    for name, value in values.items():
        page.fill(f"#cj-{name}", str(value))


def only_job(server: Server, prompt: str) -> dict[str, Any]:
    jobs = [job for job in server.client.get("/api/jobs").json() if job["prompt"] == prompt]
    assert len(jobs) == 1, jobs
    return jobs[0]


def test_create_queue_run_play_and_download(server: Server, open_page: Callable[..., Page]) -> None:
    page = open_page(server)
    expect(page.locator("job-list .empty")).to_contain_text("No jobs yet")
    # The one CPU slot is busy, so the new job visibly waits in the queue.
    blocker = server.create(start=True, prompt="blocker", **LONG)
    server.wait_status(blocker["id"], "running")

    open_create(page)
    expect(page.locator("#cj-model_id")).to_have_value("fastvideo-ui/preview")
    # FastVideo's models are listed, but cannot be chosen here, and say why.
    unavailable = page.locator("#cj-model_id option:disabled")
    assert unavailable.count() >= 1
    expect(unavailable.first).to_contain_text("unavailable: fastvideo is not installed")
    fill_small(page, "a red fox in fresh snow", num_inference_steps=600, height=512, width=512, num_frames=33)
    page.fill("#cj-seed", "4242")
    page.keyboard.press("Control+Enter")
    expect(page.locator("dialog.create-job")).to_be_hidden()
    job = wait_for(lambda: only_job(server, "a red fox in fresh snow"))
    assert job["seed"] == 4242 and job["num_inference_steps"] == 600 and job["status"] == "queued"
    ours = card(page, job["id"])
    expect(ours.locator(".badge")).to_have_text("Queued")
    expect(ours.locator(".queue-position")).to_have_text("#1 in queue")
    expect(ours).to_contain_text("512×512 · 33 frames @ 16 fps · 600 steps · cfg 5 · seed 4242")

    server.client.post(f"/api/jobs/{blocker['id']}/stop")
    expect(ours.locator(".badge")).to_have_text("Running")
    bar = ours.locator("progress")
    wait_for(lambda: bar.evaluate("b => b.value") > 0, what="the progress bar to start")
    first = bar.evaluate("b => b.value")
    wait_for(lambda: bar.evaluate("b => b.value") > first, what="the progress bar to move")
    expect(ours.locator(".progress-text")).to_contain_text("step ")
    expect(ours.locator(".progress-text")).to_contain_text("/600")

    expect(ours.locator(".badge")).to_have_text("Completed", timeout=60_000)
    video = ours.locator("video")
    expect(video).to_have_attribute("src", f"/api/jobs/{job['id']}/video")
    assert video.get_attribute("poster") == f"/api/jobs/{job['id']}/poster"
    video.evaluate("v => { v.muted = true; return v.play(); }")
    wait_for(lambda: video.evaluate("v => v.readyState >= 2 && v.duration > 0"), what="the video to play")
    assert abs(video.evaluate("v => v.duration") - 33 / 16) < 0.2
    video.evaluate("v => { v.currentTime = 1.0; }")  # seeking works: the server answers ranges
    wait_for(lambda: video.evaluate("v => !v.seeking && v.currentTime >= 1.0"), what="the seek")

    with page.expect_download() as download_info:
        ours.locator("[data-action=download-video]").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".mp4")
    with open(download.path(), "rb") as handle:
        assert handle.read(12)[4:8] == b"ftyp"
    with page.expect_download() as log_info:
        ours.locator("[data-action=download-log]").click()
    with open(log_info.value.path(), encoding="utf-8") as handle:
        assert "completed" in handle.read()


def test_stop_a_running_job(server: Server, open_page: Callable[..., Page]) -> None:
    job = server.create(start=True, **LONG)
    page = open_page(server)
    ours = card(page, job["id"])
    expect(ours.locator(".badge")).to_have_text("Running")
    expect(ours.locator("[data-action=start]")).to_be_hidden()
    ours.locator("[data-action=stop]").click()
    expect(ours.locator(".badge")).to_have_text("Stopped")
    assert server.job(job["id"])["status"] == "stopped"
    expect(ours.locator("[data-action=stop]")).to_be_hidden()
    expect(ours.locator("[data-action=start]")).to_have_text("Run again")


def test_delete_asks_first(server: Server, open_page: Callable[..., Page]) -> None:
    keep = server.create(prompt="keep me")
    doomed = server.create(prompt="delete me")
    page = open_page(server)
    card(page, doomed["id"]).locator("[data-action=delete]").click()
    confirm = page.locator("dialog.confirm")
    expect(confirm).to_contain_text("delete me")
    confirm.get_by_role("button", name="Cancel").click()
    expect(card(page, doomed["id"])).to_be_visible()
    card(page, doomed["id"]).locator("[data-action=delete]").click()
    confirm.get_by_role("button", name="Delete").click()
    expect(card(page, doomed["id"])).to_have_count(0)
    assert server.client.get(f"/api/jobs/{doomed['id']}").status_code == 404
    expect(card(page, keep["id"])).to_be_visible()
    expect(page.locator("job-list .count")).to_have_text("1 job")


def test_duplicate_with_a_changed_seed(server: Server, open_page: Callable[..., Page]) -> None:
    # (No offload settings: the preview renderer has none, and the dialog offers none for it.)
    original = server.create(prompt="a lighthouse at night", seed=7, guidance_scale=3.5, fps=12,
                             negative_prompt="blurry")
    page = open_page(server)
    card(page, original["id"]).locator("[data-action=duplicate]").click()
    dialog = page.locator("dialog.create-job")
    expect(dialog.locator("h2")).to_have_text("Duplicate job")
    expect(page.locator("#cj-prompt")).to_have_value("a lighthouse at night")
    expect(page.locator("#cj-seed")).to_have_value("7")
    expect(page.locator("#cj-negative_prompt")).to_have_value("blurry")
    page.fill("#cj-seed", "8")
    page.uncheck("#cj-start")
    dialog.get_by_role("button", name="Create").click()
    expect(page.locator("job-card")).to_have_count(2)
    copies = server.client.get("/api/jobs").json()
    copy = next(job for job in copies if job["id"] != original["id"])
    assert copy["seed"] == 8 and copy["status"] == "pending"
    same = ("prompt", "model_id", "height", "width", "num_frames", "num_inference_steps", "guidance_scale", "fps",
            "negative_prompt", "num_gpus")
    assert {name: copy[name] for name in same} == {name: original[name] for name in same}


def test_batch_of_three_seeds(server: Server, open_page: Callable[..., Page]) -> None:
    page = open_page(server)
    open_create(page)
    fill_small(page, "a paper boat on a river")
    page.fill("#cj-seed", "100")
    page.select_option("#cj-batch_mode", "seeds")
    page.fill("#cj-batch_count", "3")
    page.locator("dialog.create-job").get_by_role("button", name="Create").click()
    expect(page.locator("job-card")).to_have_count(3)
    jobs = server.client.get("/api/jobs").json()
    assert sorted(job["seed"] for job in jobs) == [100, 101, 102]
    assert {job["prompt"] for job in jobs} == {"a paper boat on a river"}
    for job in jobs:
        server.wait_status(job["id"], "completed")
    expect(page.locator("job-card .badge", has_text="Completed")).to_have_count(3)


def test_batch_of_prompt_lines(server: Server, open_page: Callable[..., Page]) -> None:
    page = open_page(server)
    open_create(page)
    fill_small(page, "first line\n\nsecond line\nthird line")
    page.select_option("#cj-batch_mode", "lines")
    page.uncheck("#cj-start")
    page.locator("dialog.create-job").get_by_role("button", name="Create").click()
    expect(page.locator("job-card")).to_have_count(3)
    assert sorted(job["prompt"] for job in server.client.get("/api/jobs").json()) == [
        "first line", "second line", "third line"]


@pytest.mark.browser
def test_a_pasted_multi_line_prompt_is_sent_as_one_line(server: Server, open_page: Callable[..., Page]) -> None:
    # The server refuses line breaks in a prompt (FastVideo echoes it where progress is read).
    page = open_page(server)
    dialog = open_create(page)
    fill_small(page, "a fox\n  trotting through\n\nfresh snow\n")
    dialog.locator("details.advanced summary").click()
    page.fill("#cj-negative_prompt", "blurry\nlow quality")
    page.uncheck("#cj-start")
    dialog.get_by_role("button", name="Create").click()
    expect(page.locator("job-card")).to_have_count(1)
    job = only_job(server, "a fox trotting through fresh snow")
    assert job["negative_prompt"] == "blurry low quality"


def test_server_422_is_shown_at_its_field(server: Server, open_page: Callable[..., Page]) -> None:
    page = open_page(server)
    dialog = open_create(page)
    fill_small(page, "a valid prompt", height=60)
    dialog.get_by_role("button", name="Create").click()
    error = page.locator("#cj-height-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("multiple of 8")
    expect(page.locator("#cj-height")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#cj-width-error")).to_be_hidden()
    expect(dialog).to_be_visible()
    assert server.client.get("/api/jobs").json() == []
    # Fixing the field clears its message; an empty prompt is named in turn.
    page.fill("#cj-height", "64")
    expect(error).to_be_hidden()
    page.fill("#cj-prompt", "   ")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#cj-prompt-error")).to_contain_text("must not be empty")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_markup_in_a_prompt_is_shown_as_text(server: Server, open_page: Callable[..., Page]) -> None:
    hostile = "<img src=x onerror=alert(1)>"
    page = open_page(server)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    open_create(page)
    fill_small(page, hostile)
    page.locator("dialog.create-job").get_by_role("button", name="Create").click()
    job = wait_for(lambda: only_job(server, hostile))
    ours = card(page, job["id"])
    expect(ours.locator(".prompt")).to_have_text(hostile)
    expect(ours.locator(".badge")).to_have_text("Completed")
    page.goto(server.url + "/#/gallery")
    tile = page.locator(f".tile[data-id='{job['id']}']")
    expect(tile.locator(".tile-caption")).to_have_text(hostile)
    tile.click()
    expect(page.locator("dialog.detail .params-table")).to_contain_text(hostile)
    page.keyboard.press("Escape")
    # Closing goes back to the gallery (history.back(), which lands a moment later:
    # a goto before it landed was undone by it, and the card's buttons were hidden).
    expect(page).to_have_url(re.compile(r"#/gallery$"))
    page.goto(server.url + "/#/jobs")
    card(page, job["id"]).locator("[data-action=logs]").click()
    expect(page.locator("dialog.log-dialog h2")).to_contain_text(hostile)
    assert page.locator("img[src='x']").count() == 0
    assert dialogs == []
