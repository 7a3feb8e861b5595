"""guidance_rescale, the proof of the job spec (issue 25): one entry in
spec/fields.py, and the field is in the create request and its 422s, /api/models'
fields, `submit --help`, the job, the MP4's settings, the New job dialog and
FastVideo's generate_video call (the fake here; the real library in
test_real_fastvideo.py), with no other source written for it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from conftest import WAN, FakeFastVideo, Server

PREVIEW = "fastvideo-ui/preview"


def test_the_request_takes_it_from_0_to_1_and_names_it_when_out_of_range(server: Server) -> None:
    schema = server.client.get("/openapi.json").json()["components"]["schemas"]
    prop = schema["CreateJobRequest"]["properties"]["guidance_rescale"]
    assert (prop["type"], prop["minimum"], prop["maximum"], prop["default"]) == ("number", 0.0, 1.0, 0.0)
    assert "guidance_rescale" in schema["Job"]["required"]
    for bad in (1.5, -0.1, "NaN"):
        refused = server.client.post("/api/jobs", json={"model_id": WAN, "prompt": "a fox", "guidance_rescale": bad})
        assert refused.status_code == 422, bad
        assert refused.json()["detail"][0]["loc"] == ["body", "guidance_rescale"], refused.json()


def test_the_preview_renderer_refuses_it_and_keeps_its_default(server: Server) -> None:
    refused = server.client.post("/api/jobs", json={"model_id": PREVIEW, "prompt": "a fox", "guidance_rescale": 0.7})
    assert refused.status_code == 422
    assert refused.json()["detail"] == [{"loc": ["body", "guidance_rescale"], "type": "value_error",
                                         "msg": "guidance_rescale does not apply to fastvideo-ui/preview"}]
    job = server.create(model_id=PREVIEW, guidance_rescale=0)  # its own default asks for nothing
    assert job["guidance_rescale"] == 0.0


def test_api_models_serves_it_for_fastvideo_models_only(server: Server) -> None:
    models = {model["id"]: model for model in server.client.get("/api/models").json()}
    fields = {field["name"]: field for field in models[WAN]["fields"]}
    rescale = fields["guidance_rescale"]
    assert (rescale["type"], rescale["default"], rescale["minimum"], rescale["maximum"], rescale["group"]) == \
        ("number", 0.0, 0.0, 1.0, "generation")
    assert "guidance_rescale" not in {field["name"] for field in models[PREVIEW]["fields"]}


def test_submit_help_lists_it() -> None:
    shown = subprocess.run([sys.executable, "-m", "fastvideo_ui", "submit", "--help"], capture_output=True,
                           text=True, timeout=60, env={"COLUMNS": "200", "PATH": ""})
    assert shown.returncode == 0, shown.stderr
    assert "--guidance-rescale GUIDANCE_RESCALE" in shown.stdout
    assert "FastVideo's SamplingParam.guidance_rescale" in " ".join(shown.stdout.split())


@pytest.mark.slow
def test_a_wan_job_passes_it_to_fastvideo_and_keeps_it_in_its_mp4(fastvideo: Callable[..., FakeFastVideo]) -> None:
    fake = fastvideo()
    job = fake.create(start=True, guidance_rescale=0.7, guidance_scale=3.0)
    done = fake.server.wait_status(job["id"], "completed", "failed", timeout=60)
    assert done["status"] == "completed", done["error"]
    assert done["guidance_rescale"] == 0.7
    (generate,) = fake.events("generate")
    assert generate["kwargs"]["guidance_rescale"] == 0.7 and generate["kwargs"]["guidance_scale"] == 3.0
    video = fake.server.client.get(done["video_url"]).content
    read = fake.server.client.post("/api/media/settings", content=video, headers={"Content-Type": "video/mp4"})
    assert read.status_code == 200 and read.json()["settings"]["guidance_rescale"] == 0.7
    # Listed and copied like any field: the job list, and a remix of the job.
    listed = {item["id"]: item for item in fake.server.client.get("/api/jobs").json()}
    assert listed[job["id"]]["guidance_rescale"] == 0.7
    remix = fake.server.client.post(f"/v1/videos/{job['id']}/remix", json={"prompt": "again"})
    assert remix.status_code == 200, remix.text
    assert fake.server.job(remix.json()["id"])["guidance_rescale"] == 0.7


def test_the_dialog_shows_it_for_wan_and_sends_it(server: Server, open_page: Callable[..., Page]) -> None:
    page = open_page(server)
    page.locator("header [data-action=new-job]").click()
    dialog = page.locator("dialog.create-job")
    expect(dialog).to_be_visible()
    expect(page.locator("#cj-guidance_rescale")).to_have_count(0)  # the preview renderer: no such control
    page.eval_on_selector("#cj-model_id", "(select, id) => { select.value = id; "
                          "select.dispatchEvent(new Event('change')); }", WAN)
    dialog.locator("details.advanced summary").click()
    control = page.locator("#cj-guidance_rescale")
    expect(control).to_be_visible()
    expect(control).to_have_value("0")
    assert (control.get_attribute("min"), control.get_attribute("max"), control.get_attribute("step")) == \
        ("0", "1", "0.05")
    expect(dialog.get_by_label("Guidance rescale")).to_have_count(1)

