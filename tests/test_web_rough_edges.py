"""Rough edges a new user found in the web UI (issue 24, the first hour), in a
real browser against the real server: what the page says and allows while the
server is out of reach, a job's second run, the settings a model really has,
job ids and details with a URL, how far an ended run got, and wording."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any, Callable

import pytest
from playwright.sync_api import Page, expect

from conftest import LONG, FakeFastVideo, Server, card, wait_for

pytestmark = pytest.mark.browser

WAN = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
SMALL = {"height": 64, "width": 64, "num_frames": 4, "num_inference_steps": 3}


def open_create(page: Page) -> Any:
    page.locator("header [data-action=new-job]").click()
    dialog = page.locator("dialog.create-job")
    expect(dialog).to_be_visible()
    return dialog


def choose_model(page: Page, model_id: str) -> None:
    # FastVideo's models are listed but disabled here (no fastvideo installed): choose one as a script can.
    page.eval_on_selector("#cj-model_id", "(select, id) => { select.value = id; "
                          "select.dispatchEvent(new Event('change')); }", model_id)


def progressed(server: Server, job_id: str) -> dict[str, Any]:
    return wait_for(lambda: (job := server.job(job_id))["step"] and job, what=f"job {job_id} to report a step")


def detail_rows(page: Page) -> dict[str, str]:
    table = page.locator("dialog.detail .params-table")
    expect(table).to_be_visible()
    labels = table.locator("dt").all_text_contents()
    return dict(zip(labels, table.locator("dd").all_text_contents(), strict=True))


@pytest.mark.slow
def test_a_stopped_server_is_described_truly_and_its_actions_wait(start_server: Callable[..., Server],
                                                                   open_page: Callable[..., Page],
                                                                   tmp_path: Path) -> None:
    first = start_server(data_dir=tmp_path / "data")
    job = first.create(start=True, prompt="cut off by a restart", **LONG)
    pending = first.create(prompt="never started")
    first_run = first.wait_status(job["id"], "running")
    page = open_page(first)
    ours = card(page, job["id"])
    expect(ours.locator(".badge")).to_have_text("Running")
    expect(ours.locator(".run")).to_be_hidden()
    expect(ours.locator("[data-action=stop]")).to_be_enabled()

    first.terminate()  # graceful: the running job goes back to the queue
    banner = page.locator("connection-banner")
    expect(banner).to_have_text("Cannot reach the server; retrying… Jobs it was running go on, or, if it was "
                                "stopped, wait in the queue to run again.")
    for job_id, action in ((job["id"], "stop"), (job["id"], "delete"), (pending["id"], "start"),
                           (pending["id"], "delete")):
        expect(card(page, job_id).locator(f"[data-action={action}]")).to_be_disabled()
    expect(card(page, pending["id"]).locator("[data-action=duplicate]")).to_be_enabled()  # only opens the dialog

    second = Server(tmp_path / "data", [])
    second.port = first.port
    second.client = first.client
    second.start()
    try:
        expect(banner).to_be_hidden(timeout=30_000)
        expect(card(page, pending["id"]).locator("[data-action=start]")).to_be_enabled()
        again = second.wait_status(job["id"], "running")
        assert again["attempts"] == 2
        # Queued again when the server stopped: its wait is not its first run.
        assert again["queued_at"] >= first_run["started_at"], (again["queued_at"], first_run["started_at"])
        expect(ours.locator(".badge")).to_have_text("Running")
        expect(ours.locator(".run")).to_be_visible()
        expect(ours.locator(".run")).to_have_text("run 2")
        expect(ours.locator("[data-action=stop]")).to_be_enabled()
        ours.locator("[data-action=details]").click()
        assert detail_rows(page)["Run"] == "2"
        second.client.post(f"/api/jobs/{job['id']}/stop")
    finally:
        second.terminate()


def test_the_new_job_dialog_offers_only_the_models_own_settings(server: Server,
                                                                 open_page: Callable[..., Page]) -> None:
    models = {model["id"]: model for model in server.client.get("/api/models").json()}
    page = open_page(server)
    dialog = open_create(page)
    dialog.locator("details.advanced summary").click()
    checks = dialog.locator("details.advanced .check:visible")
    # The preview renderer: no GPU memory to offload, and none to run out of.
    expect(page.locator("#cj-model_id")).to_have_value("fastvideo-ui/preview")
    assert checks.evaluate_all("cs => cs.map(c => c.dataset.field)") == []
    for name, value in SMALL.items():
        page.fill(f"#cj-{name}", str(value))
    page.fill("#cj-prompt", "sent without offloads")
    page.uncheck("#cj-start")
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/api/jobs")) as sent:
        dialog.get_by_role("button", name="Create").click()
    body = sent.value.post_data_json
    assert not set(body) & {*models[WAN]["options"], "retry_on_oom"}, body
    expect(page.locator("job-card")).to_have_count(1)

    # A FastVideo model: its options, as /api/models lists them, torch.compile and the out-of-memory retry.
    open_create(page)
    choose_model(page, WAN)
    assert checks.evaluate_all("cs => cs.map(c => c.dataset.field)") == [*models[WAN]["options"],
                                                                          "enable_torch_compile", "retry_on_oom"]
    choose_model(page, "fastvideo-ui/preview")
    assert checks.evaluate_all("cs => cs.map(c => c.dataset.field)") == []


def test_the_dialog_follows_the_options_the_server_lists(server: Server, open_page: Callable[..., Page]) -> None:
    page = open_page(server)

    def one_option(route: Any) -> None:
        response = route.fetch()
        models = response.json()
        for model in models:
            if model["id"] == WAN:
                model["options"] = ["vae_cpu_offload"]
                # The dialog is built from `fields`: the same one option there (the load-time booleans).
                model["fields"] = [field for field in model["fields"] if field["name"] == "vae_cpu_offload"
                                   or not (field["group"] == "load" and field["type"] == "boolean")]
        route.fulfill(response=response, json=models)

    page.route("**/api/models", one_option)
    page.reload()
    dialog = open_create(page)
    dialog.locator("details.advanced summary").click()
    choose_model(page, WAN)
    shown = dialog.locator("details.advanced .check:visible")
    assert shown.evaluate_all("cs => cs.map(c => c.dataset.field)") == ["vae_cpu_offload", "retry_on_oom"]
    expect(shown.first.locator("label")).to_have_text("Offload VAE to CPU")


def test_cards_show_their_id_and_any_job_has_details_at_a_url(server: Server, open_page: Callable[..., Page]) -> None:
    pending = server.create(prompt="never started")
    page = open_page(server, "/#/jobs?q=never")
    ours = card(page, pending["id"])
    short = ours.locator(".job-id")
    expect(short).to_have_text(pending["id"][:8])
    assert pending["id"] in (short.get_attribute("title") or "")

    ours.locator("[data-action=details]").click()
    detail = page.locator("dialog.detail")
    expect(detail).to_be_visible()
    assert page.evaluate("location.hash") == f"#/jobs/{pending['id']}"
    rows = detail_rows(page)
    assert (rows["Status"], rows["Job id"]) == ("Pending", pending["id"])
    expect(detail.locator("video")).to_have_count(0)  # no video yet, and no broken player
    detail.get_by_role("button", name="Close").click()
    expect(detail).to_be_hidden()
    wait_for(lambda: page.evaluate("location.hash") == "#/jobs?q=never", what="the list's URL back")
    expect(page.locator("#search")).to_have_value("never")

    # A shared link opens on it, and it survives a reload.
    page.goto(f"{server.url}/#/jobs/{pending['id']}")
    page.reload()
    expect(detail).to_be_visible()
    assert detail_rows(page)["Job id"] == pending["id"]
    page.keyboard.press("Escape")
    expect(detail).to_be_hidden()
    wait_for(lambda: page.evaluate("location.hash") == "#/jobs", what="the jobs URL")
    expect(card(page, pending["id"])).to_be_visible()

    page.goto(f"{server.url}/#/jobs/no-such-job")
    expect(page.locator("#toast")).to_contain_text("No job no-such-job")
    wait_for(lambda: page.evaluate("location.hash") == "#/jobs", what="the jobs URL")


def test_stopped_and_failed_cards_say_how_far_they_got(server: Server, open_page: Callable[..., Page]) -> None:
    page = open_page(server)
    stopped = server.create(start=True, prompt="stopped midway", **LONG)
    progressed(server, stopped["id"])
    server.client.post(f"/api/jobs/{stopped['id']}/stop")
    ended = server.wait_status(stopped["id"], "stopped")
    assert ended["total_steps"] == LONG["num_inference_steps"] and ended["step"] > 0
    expect(card(page, stopped["id"]).locator(".badge")).to_have_text("Stopped")
    reached = f"at step {ended['step']}/{ended['total_steps']}"
    expect(card(page, stopped["id"]).locator(".reached")).to_have_text(reached)

    failed = server.create(start=True, prompt="its worker is killed", **LONG)
    progressed(server, failed["id"])
    os.kill(server.worker_pids()[0], signal.SIGKILL)
    ended = server.wait_status(failed["id"], "failed")
    expect(card(page, failed["id"]).locator(".reached")).to_have_text(f"at step {ended['step']}/{ended['total_steps']}")
    card(page, failed["id"]).locator("[data-action=details]").click()
    assert detail_rows(page)["Status"] == f"Failed at step {ended['step']}/{ended['total_steps']}"


def test_delete_looks_live_and_names_only_what_goes_with_the_job(server: Server,
                                                                  open_page: Callable[..., Page]) -> None:
    done = server.create(start=True, prompt="has a video", **SMALL)
    server.wait_status(done["id"], "completed")
    stopped = server.create(start=True, prompt="has only a log", **LONG)
    server.wait_status(stopped["id"], "running")
    pending = server.create(prompt="has nothing yet")
    page = open_page(server, color_scheme="dark")
    running = card(page, stopped["id"])
    expect(running.locator(".badge")).to_have_text("Running")
    # Delete is a live, destructive action, coloured like Stop, not greyed like a disabled button.
    colour = "b => getComputedStyle(b).color"
    assert running.locator("[data-action=delete]").evaluate(colour) == \
        running.locator("[data-action=stop]").evaluate(colour)
    server.client.post(f"/api/jobs/{stopped['id']}/stop")
    expect(running.locator(".badge")).to_have_text("Stopped")

    confirm = page.locator("dialog.confirm")
    said = {}
    for job in (done, stopped, pending):
        card(page, job["id"]).locator("[data-action=delete]").click()
        expect(confirm).to_be_visible()
        said[job["prompt"]] = confirm.locator("p").text_content()
        confirm.get_by_role("button", name="Cancel").click()
    assert said == {
        "has a video": "Delete “has a video”? Its video and log are deleted too.",
        "has only a log": "Delete “has only a log”? Its log is deleted too.",
        "has nothing yet": "Delete “has nothing yet”?",
    }


def test_gallery_search_lives_in_the_url_and_says_when_nothing_matches(server: Server,
                                                                        open_page: Callable[..., Page]) -> None:
    job = server.create(start=True, prompt="a red fox", **SMALL)
    server.wait_status(job["id"], "completed")
    page = open_page(server, "/#/gallery")
    expect(page.locator(".tile")).to_have_count(1)
    page.fill("#gallery-search", "zebra")
    empty = page.locator("gallery-view .empty")
    expect(empty).to_have_text("No video matches “zebra”.")
    expect(page.locator(".tile")).to_have_count(0)
    assert page.evaluate("location.hash") == "#/gallery?q=zebra"
    page.reload()
    expect(page.locator("#gallery-search")).to_have_value("zebra")
    expect(empty).to_have_text("No video matches “zebra”.")
    page.fill("#gallery-search", "")
    expect(page.locator(".tile")).to_have_count(1)
    assert page.evaluate("location.hash") == "#/gallery"
    # A tile's details over the gallery, and back to it.
    page.locator(".tile").click()
    rows = detail_rows(page)
    assert page.evaluate("location.hash") == f"#/jobs/{job['id']}"
    page.keyboard.press("Escape")
    wait_for(lambda: page.evaluate("location.hash") == "#/gallery", what="the gallery's URL back")
    expect(page.locator("#view-gallery")).to_be_visible()
    # A preview job ran on a CPU slot, and its model is named once.
    model = next(m for m in server.client.get("/api/models").json() if m["id"] == job["model_id"])
    assert rows["Devices"] == "1 CPU slot (cpu0)"
    assert (rows["Model"], rows["Model id"]) == (model["label"], model["id"])


def test_the_seed_row_lines_up_and_width_comes_before_height(server: Server, open_page: Callable[..., Page]) -> None:
    page = open_page(server)
    open_create(page)

    def box(selector: str) -> dict[str, float]:
        found = page.locator(selector).bounding_box()
        assert found, selector
        return found

    steps, seed = box("#cj-num_inference_steps"), box("#cj-seed")
    randomize = box("[data-field=seed] button")
    assert seed["height"] == pytest.approx(steps["height"], abs=1), (seed, steps)
    assert randomize["height"] == pytest.approx(steps["height"], abs=1), (randomize, steps)
    width, height = box("#cj-width"), box("#cj-height")
    assert (width["y"], width["x"]) < (height["y"], height["x"]), "Height comes before Width"


@pytest.mark.slow
def test_a_fastvideo_jobs_duplicate_carries_its_settings(fastvideo: Callable[..., FakeFastVideo],
                                                         open_page: Callable[..., Page]) -> None:
    fake = fastvideo()
    original = fake.create(prompt="a lighthouse at night", vae_cpu_offload=False, dit_layerwise_offload=False,
                           dit_cpu_offload=True, retry_on_oom=True)
    page = open_page(fake.server)
    card(page, original["id"]).locator("[data-action=duplicate]").click()
    dialog = page.locator("dialog.create-job")
    expect(page.locator("#cj-model_id")).to_have_value(WAN)
    expect(dialog.locator("details.advanced")).to_have_attribute("open", "")  # settings off their defaults show
    expect(page.locator("#cj-vae_cpu_offload")).not_to_be_checked()
    expect(page.locator("#cj-dit_layerwise_offload")).not_to_be_checked()
    expect(page.locator("#cj-dit_cpu_offload")).to_be_checked()
    expect(page.locator("#cj-dit_cpu_offload")).to_be_enabled()
    expect(page.locator("#cj-retry_on_oom")).to_be_checked()
    page.fill("#cj-seed", "8")
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/api/jobs")) as sent:
        dialog.get_by_role("button", name="Create").click()
    wan = next(model for model in fake.server.client.get("/api/models").json() if model["id"] == WAN)
    # Every setting the model has, as the job had it (use_fsdp_inference: unsent while FastVideo overrides it).
    body = sent.value.post_data_json
    sent_settings = {name: body[name] for name in [*wan["options"], "retry_on_oom"] if name in body}
    assert sent_settings == {"dit_layerwise_offload": False, "dit_cpu_offload": True, "use_fsdp_inference": False,
                             "text_encoder_cpu_offload": original["text_encoder_cpu_offload"],
                             "vae_cpu_offload": False, "retry_on_oom": True}
