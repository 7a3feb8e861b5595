"""Presets and stars in a real browser: a preset saved from New job fills a
fresh dialog when applied (and one that no longer holds is refused, naming the
field); export and import; a star on a card and a tile, and the Starred filter
of the jobs list and the gallery (followed live)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Callable

from playwright.sync_api import FilePayload, Page, Route, expect

from conftest import Server, card, wait_for
from test_web_jobs import open_create

SHORT = {"height": 64, "width": 64, "num_frames": 5, "num_inference_steps": 3}


def presets(server: Server) -> dict[str, dict[str, Any]]:
    return {preset["name"]: preset for preset in server.client.get("/api/presets").json()}


def choose(page: Page, name: str) -> None:
    select = page.locator("#cj-preset")
    value = select.locator("option", has_text=name).first.get_attribute("value")
    assert value
    select.select_option(value)


def test_save_a_preset_apply_it_export_and_import(server: Server, open_page: Callable[..., Page]) -> None:
    page = open_page(server)
    dialog = open_create(page)
    defaults = {name: page.input_value(f"#cj-{name}") for name in ("num_inference_steps", "guidance_scale", "width")}
    page.fill("#cj-prompt", "a lighthouse in a storm")
    page.fill("#cj-num_inference_steps", "7")
    page.fill("#cj-guidance_scale", "9.5")
    dialog.locator("[data-action=new-preset]").click()
    page.fill("#cj-preset-name", "Crisp")
    page.keyboard.press("Enter")  # saves the preset; it does not create a job
    status = page.locator("#cj-preset-status")
    expect(status).to_have_text("Saved “Crisp”: 2 settings")
    assert server.client.get("/api/jobs").json() == []
    crisp = presets(server)["Crisp"]
    # What differs from the model's defaults; not the prompt, nor the seed (unticked); tied to the model.
    assert crisp["values"] == {"num_inference_steps": 7, "guidance_scale": 9.5}
    assert crisp["model_id"] == "fastvideo-ui/preview"
    expect(page.locator("#cj-preset")).to_have_value(crisp["id"])

    # Another, for any model, keeping its prompt.
    dialog.locator("[data-action=new-preset]").click()
    page.fill("#cj-preset-name", "Lighthouse")
    page.check("#cj-preset-with-prompt")
    page.check("#cj-preset-any-model")
    dialog.locator("[data-action=save-preset]").click()
    expect(status).to_have_text("Saved “Lighthouse”: 3 settings")
    lighthouse = presets(server)["Lighthouse"]
    assert lighthouse["model_id"] is None and lighthouse["values"]["prompt"] == "a lighthouse in a storm"
    expect(page.locator("#cj-preset option", has_text="Lighthouse")).to_have_text("Lighthouse · any model")

    # A fresh dialog has the model's defaults; applying fills in the preset's values.
    dialog.locator(".dialog-actions button", has_text="Cancel").click()
    open_create(page)
    for name, value in defaults.items():
        expect(page.locator(f"#cj-{name}")).to_have_value(value)
    page.fill("#cj-prompt", "my own prompt")
    choose(page, "Crisp")
    page.locator("[data-action=apply-preset]").click()
    expect(page.locator("#cj-num_inference_steps")).to_have_value("7")
    expect(page.locator("#cj-guidance_scale")).to_have_value("9.5")
    expect(page.locator("#cj-width")).to_have_value(defaults["width"])
    expect(page.locator("#cj-prompt")).to_have_value("my own prompt")  # a preset without one keeps it
    expect(status).to_have_text("Applied “Crisp”: 2 settings")
    page.fill("#cj-width", "128")
    choose(page, "Lighthouse")
    page.locator("[data-action=apply-preset]").click()
    expect(page.locator("#cj-prompt")).to_have_value("a lighthouse in a storm")
    expect(page.locator("#cj-num_inference_steps")).to_have_value("7")
    expect(page.locator("#cj-width")).to_have_value(defaults["width"])  # the model's defaults, then the preset

    # A preset that no longer holds (saved under other limits): applying it names the field, and fills nothing.
    with sqlite3.connect(server.data_dir / "jobs.sqlite3") as db:
        db.execute("UPDATE presets SET \"values\" = ? WHERE id = ?",
                   (json.dumps({"num_inference_steps": 0}), crisp["id"]))
    choose(page, "Crisp")
    page.locator("[data-action=apply-preset]").click()
    expect(status).to_contain_text("“Crisp” cannot be applied: num_inference_steps:")
    expect(status).to_have_class("preset-status problem")
    expect(page.locator("#cj-num_inference_steps")).to_have_value("7")  # as Lighthouse left it

    # Export, delete them all here, import the file back.
    with page.expect_download() as download_info:
        page.locator("preset-menu a", has_text="Export").click()
    exported = json.loads(download_info.value.path().read_text())
    assert sorted(preset["name"] for preset in exported["presets"]) == ["Crisp", "Lighthouse"]
    choose(page, "Lighthouse")
    page.locator("[data-action=delete-preset]").click()
    page.locator("confirm-dialog button", has_text="Delete").click()
    expect(status).to_have_text("Deleted “Lighthouse”")
    assert list(presets(server)) == ["Crisp"]
    server.client.delete(f"/api/presets/{crisp['id']}")
    fixed = [preset for preset in exported["presets"] if preset["name"] == "Lighthouse"]
    fixed.append({"name": "Crisp", "model_id": "fastvideo-ui/preview", "values": {"num_inference_steps": 7}})
    server.client.post("/api/presets", json=fixed[1])
    upload: FilePayload = {"name": "presets.json", "mimeType": "application/json",
                           "buffer": json.dumps({"presets": fixed}).encode()}
    page.locator("#cj-preset-file").set_input_files(files=upload)
    expect(status).to_have_text("presets.json: 1 preset added; 1 preset skipped (the name is taken: Crisp)")
    expect(page.locator("#cj-preset option", has_text="Lighthouse")).to_have_count(1)
    # A file past what one import may be (8 MiB): the 413 says to split it.
    big = [{"name": f"p{index}", "values": {"prompt": "x" * 10_000}} for index in range(850)]
    page.locator("#cj-preset-file").set_input_files(files={
        "name": "big.json", "mimeType": "application/json", "buffer": json.dumps({"presets": big}).encode()})
    expect(status).to_contain_text("big.json was not imported: it is larger than one import may be")
    expect(status).to_contain_text("split its presets into several files")


def test_apply_and_delete_are_disabled_until_a_preset_is_chosen(server: Server,
                                                                  open_page: Callable[..., Page]) -> None:
    server.client.post("/api/presets", json={"name": "Crisp", "values": {"num_inference_steps": 7}})
    page = open_page(server)
    held: list[Route] = []
    page.route("**/api/presets", lambda route: held.append(route))  # the list waits: the menu as it is built
    open_create(page)
    buttons = [page.locator("[data-action=apply-preset]"), page.locator("[data-action=delete-preset]")]
    for button in buttons:
        expect(button).to_be_disabled()
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert held
    for route in held:
        route.continue_()
    page.unroute("**/api/presets")
    expect(page.locator("#cj-preset option", has_text="Crisp")).to_have_count(1)
    expect(page.locator("#cj-preset")).to_have_value("")
    for button in buttons:
        expect(button).to_be_disabled()
    choose(page, "Crisp")
    for button in buttons:
        expect(button).to_be_enabled()
    page.locator("#cj-preset").select_option("")
    for button in buttons:
        expect(button).to_be_disabled()


def test_star_jobs_and_filter_by_starred(server: Server, open_page: Callable[..., Page]) -> None:
    jobs = [server.create(start=True, prompt=f"video {i}", seed=i, **SHORT) for i in range(3)]
    for job in jobs:
        server.wait_status(job["id"], "completed")
    a, b, c = jobs
    page = open_page(server)
    star = card(page, a["id"]).locator("button.star")
    expect(star).to_have_attribute("aria-pressed", "false")
    expect(star).to_have_accessible_name("Star")
    star.click()
    expect(star).to_have_attribute("aria-pressed", "true")
    assert server.job(a["id"])["starred"] is True

    page.locator("#starred-filter").check()
    expect(page).to_have_url(f"{server.url}/#/jobs?starred=1")
    expect(page.locator("job-card")).to_have_count(1)
    expect(card(page, a["id"])).to_be_visible()
    # Live: a job starred elsewhere joins the filtered list, one unstarred leaves it.
    server.client.post(f"/api/jobs/{b['id']}/star")
    expect(card(page, b["id"])).to_be_visible()
    card(page, a["id"]).locator("button.star").click()
    expect(card(page, a["id"])).to_have_count(0)
    expect(page.locator("job-card")).to_have_count(1)

    # The gallery: its own filter, from the URL too; a tile's star.
    page.goto(f"{server.url}/#/gallery?starred=1")
    expect(page.locator("#gallery-starred")).to_be_checked()
    expect(page.locator(".tile")).to_have_count(1)
    expect(page.locator(f".tile[data-id='{b['id']}']")).to_be_visible()
    page.locator("#gallery-starred").uncheck()
    expect(page).to_have_url(f"{server.url}/#/gallery")
    expect(page.locator(".tile")).to_have_count(3)
    tile_star = page.locator(f".tile-box:has(.tile[data-id='{c['id']}']) button.star")
    tile_star.click()
    expect(tile_star).to_have_attribute("aria-pressed", "true")
    expect(tile_star).to_be_focused()  # the tile stayed: only its star changed
    wait_for(lambda: server.job(c["id"])["starred"], what="the star to be kept")
    page.locator("#gallery-starred").check()
    expect(page.locator(".tile")).to_have_count(2)
    assert sorted(page.locator(".tile").evaluate_all("(tiles) => tiles.map((t) => t.dataset.id)")) == sorted(
        [b["id"], c["id"]])
    assert [job["id"] for job in server.client.get("/api/jobs", params={"starred": "true"}).json()] == [
        c["id"], b["id"]]
