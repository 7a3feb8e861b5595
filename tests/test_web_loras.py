"""New job's LoRA picker in Chromium, on the fake FastVideo: a LoRA chosen
from the library (or uploaded from the picker), its strength, and the card
that shows it; Run again and "From a video…" bring the LoRAs back."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
from playwright.sync_api import Page, expect
from test_lora_runs import add, lora_file

from conftest import WAN, FakeFastVideo, card

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def new_job(page: Page) -> None:
    page.locator("header [data-action=new-job]").click()
    expect(page.locator("dialog.create-job")).to_be_visible()
    page.eval_on_selector("#cj-model_id", "(select, id) => { select.value = id; "
                          "select.dispatchEvent(new Event('change')); }", WAN)


def test_a_lora_picked_in_new_job_is_on_the_card(fastvideo: Callable[..., FakeFastVideo],
                                                 open_page: Callable[..., Page], tmp_path: Path) -> None:
    fake = fastvideo("--gpus", "0")
    add(fake.server, "style", lora_file())
    page = open_page(fake.server)
    new_job(page)
    picker = page.locator("lora-picker")
    expect(picker).to_be_visible()
    picker.get_by_role("button", name="Add LoRA").click()
    picker.get_by_label("LoRA 1", exact=True).select_option("style.safetensors")
    picker.get_by_label("LoRA 1 strength").fill("0.6")
    # A second, uploaded from the picker: to the library first, then into a row of its own.
    picker.locator("input[type=file]").set_input_files(
        files=[{"name": "ink.safetensors", "mimeType": "application/octet-stream", "buffer": lora_file((0,))}])
    expect(picker.get_by_label("LoRA 2", exact=True)).to_have_value("ink.safetensors")
    assert [entry["name"] for entry in fake.server.client.get("/api/loras").json()] == ["ink.safetensors",
                                                                                       "style.safetensors"]
    page.fill("#cj-prompt", "a fox in the snow")
    page.fill("#cj-num_inference_steps", "2")
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/api/jobs")) as sent:
        page.locator("dialog.create-job").get_by_role("button", name="Create").click()
    assert sent.value.post_data_json["loras"] == [{"lora": "style.safetensors", "strength": 0.6},
                                                  {"lora": "ink.safetensors", "strength": 1}]
    job = fake.server.client.get("/api/jobs").json()[0]
    shown = card(page, job["id"]).locator(".params")
    expect(shown).to_contain_text("LoRA style.safetensors:0.6, ink.safetensors:1")
    # Run again: the picker holds the job's LoRAs.
    fake.server.wait_status(job["id"], "completed", "failed", timeout=120)
    card(page, job["id"]).locator("[data-action=duplicate]").click()
    expect(picker.get_by_label("LoRA 1", exact=True)).to_have_value("style.safetensors")
    expect(picker.get_by_label("LoRA 1 strength")).to_have_value("0.6")
    expect(picker.get_by_label("LoRA 2", exact=True)).to_have_value("ink.safetensors")
    dialog = page.locator("dialog.create-job")
    dialog.get_by_role("button", name="Cancel", exact=True).click()
    expect(dialog).to_be_hidden()
    # "From a video…": the LoRAs inside the MP4's settings come back into the picker.
    video = tmp_path / "made.mp4"
    video.write_bytes(fake.server.client.get(f"/api/jobs/{job['id']}/video").content)
    page.locator("header [data-action=new-job]").click()
    expect(picker.get_by_label("LoRA 1", exact=True)).to_have_count(0)  # a new job starts with none
    page.set_input_files("#cj-from-video", str(video))
    expect(picker.get_by_label("LoRA 1 strength")).to_have_value("0.6")
    expect(picker.get_by_label("LoRA 2", exact=True)).to_have_value("ink.safetensors")
