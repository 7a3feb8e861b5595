"""The sweeps pages in a real browser against the real server: the list, the
grid of a sweep's videos played from one clock (web/js/sync-playback.js),
swapping its axes (kept in the URL), opening a cell, New job from a cell, a
64-cell grid that holds a <video> only near the viewport, a phone's width, and
New sweep (an axis per field, errors under their axis, settings from a preset
or from New job)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from playwright.sync_api import Page, expect

from conftest import LONG, PREVIEW, Server, wait_for
from test_web_screenshots import shots_dir

SMALL = {"height": 240, "width": 416, "num_frames": 17, "num_inference_steps": 4}

# Every synced video's currentTime, sampled `count` times `gap_ms` apart while playing:
# [[times...], ...]. `selector` picks the videos.
SAMPLE = """async ([selector, count, gap]) => {
    const out = [];
    for (let i = 0; i < count; i++) {
        await new Promise((done) => setTimeout(done, gap));
        out.push([...document.querySelectorAll(selector)].map((video) => video.currentTime));
    }
    return out;
}"""


def assert_in_sync(samples: list[list[float]], videos: int) -> None:
    """Each sample: every video there and within 0.1 s of the others; and the
    videos moved between samples (not a paused grid that is trivially in sync)."""
    for times in samples:
        assert len(times) == videos, samples
        assert max(times) - min(times) <= 0.1, samples
    assert len({round(min(times), 2) for times in samples}) > len(samples) // 2, samples


def test_sync_playback_keeps_videos_of_different_lengths_together(server: Server,
                                                                  open_page: Callable[..., Page]) -> None:
    jobs = [server.create(start=True, seed=seed, **SMALL) for seed in (1, 2)]
    longer = server.create(start=True, seed=3, **(SMALL | {"num_frames": 33}))
    done = [server.wait_status(job["id"], "completed") for job in [*jobs, longer]]
    page = open_page(server)
    page.evaluate("""async (urls) => {
        const { SyncPlayback } = await import('/js/sync-playback.js');
        const sync = new SyncPlayback();
        const box = document.createElement('div');
        box.id = 'sync-test';
        for (const url of urls) {
            const video = document.createElement('video');
            video.src = url;
            video.preload = 'auto';
            box.append(video);
            sync.add(video);
        }
        const controls = document.createElement('sync-controls');
        box.append(controls);
        controls.playback = sync;
        document.body.prepend(box);
        window.__sync = sync;
    }""", [job["video_url"] for job in done])
    wait_for(lambda: page.evaluate("window.__sync.duration") > 2, what="the longest video's duration")
    duration = page.evaluate("window.__sync.duration")
    short = page.evaluate("document.querySelector('#sync-test video').duration")
    assert short < duration
    page.locator("#sync-test sync-controls button").click()
    expect(page.locator("#sync-test sync-controls button")).to_have_attribute("aria-label", "Pause")
    samples = page.evaluate(SAMPLE, ["#sync-test video", 6, 120])
    # Before the shorter two end (about 1 s in): all three together.
    early = [times for times in samples if max(times) < short - 0.1]
    assert early, samples
    assert_in_sync(early, 3)
    # Past its end a shorter video holds its last frame until the longest loops back to 0.
    wait_for(lambda: page.evaluate("window.__sync.currentTime") > short + 0.2, what="the clock past the short ones")
    held = page.evaluate("[...document.querySelectorAll('#sync-test video')].map((v) => [v.currentTime, v.paused])")
    assert held[0][1] and held[0][0] >= short - 0.01, held
    wait_for(lambda: page.evaluate("window.__sync.currentTime") < 0.5, what="the loop back to 0")
    assert_in_sync(page.evaluate(SAMPLE, ["#sync-test video", 4, 60]), 3)
    # Pause stops every video at the clock's time; the scrub bar seeks them all.
    page.locator("#sync-test sync-controls button").click()
    page.evaluate("window.__sync.seek(0.5)")
    positions = page.evaluate("[...document.querySelectorAll('#sync-test video')].map((v) => v.currentTime)")
    assert all(abs(time - 0.5) < 0.01 for time in positions), positions
    scrub = page.locator("#sync-test sync-controls input[type=range]")
    scrub.focus()
    page.keyboard.press("End")
    assert abs(page.evaluate("window.__sync.currentTime") - duration) < 0.01


def make_sweep(server: Server, axes: dict[str, list[Any]], **base: Any) -> dict[str, Any]:
    body = {"model_id": PREVIEW, "prompt": "A red fox trotting through fresh snow at dawn"} | base
    response = server.client.post("/api/sweeps", json={"base": body, "axes": axes, "start": True})
    assert response.status_code == 201, response.text
    return response.json()


def wait_finished(server: Server, sweep: dict[str, Any], timeout: float = 120) -> None:
    for entry in sweep["jobs"]:
        server.wait_status(entry["id"], "completed", timeout=timeout)


def headers(page: Page) -> tuple[list[str], list[str]]:
    """The grid's column headers (after the corner) and row headers."""
    cols = page.locator("sweep-grid thead th").all_inner_texts()[1:]
    rows = page.locator("sweep-grid tbody th").all_inner_texts()
    return cols, rows


def cell_ids(page: Page) -> list[list[str | None]]:
    """The job id of each cell, row by row."""
    return page.evaluate("""() => [...document.querySelectorAll('sweep-grid tbody tr')].map((row) =>
        [...row.querySelectorAll('td')].map((td) => td.querySelector('sweep-cell')?.dataset.id ?? null))""")


def test_a_3x3_sweep_plays_in_sync_swaps_axes_and_opens_its_cells(server: Server, open_page: Callable[..., Page],
                                                                  tmp_path: Path) -> None:
    sweep = make_sweep(server, {"guidance_scale": [3, 5, 7], "seed": [1, 2, 3]}, **SMALL)
    by_coords = {(e["coords"]["guidance_scale"], e["coords"]["seed"]): e["id"] for e in sweep["jobs"]}
    page = open_page(server, "/#/sweeps")
    row = page.locator(f".sweep-row[data-id='{sweep['id']}']")
    expect(row).to_contain_text("Guidance scale 3, 5, 7 × Seed 1, 2, 3")
    row.click()
    expect(page.locator("sweep-cell")).to_have_count(9)
    # Guidance scale down the rows, seeds across: each cell the job at those coordinates.
    assert headers(page) == (["1", "2", "3"], ["3", "5", "7"])
    assert cell_ids(page) == [[by_coords[(g, s)] for s in (1, 2, 3)] for g in (3, 5, 7)]
    wait_finished(server, sweep)
    # Live job events bring each cell to completed, with its video.
    expect(page.locator("sweep-cell[data-status='completed']")).to_have_count(9)
    expect(page.locator(".sweep-meta")).to_contain_text("9 jobs: 9 completed")
    # What every job shares, without hovering: the summary less the axes (cfg, seed).
    shared = page.locator(".sweep-shared")
    expect(shared).to_contain_text("416×240 · 17 frames")
    expect(shared).to_contain_text("4 steps")
    expect(shared).not_to_contain_text("cfg")
    expect(shared).not_to_contain_text("seed")
    expect(page.locator("sweep-grid sync-controls button")).to_be_enabled()
    page.screenshot(path=str(shots_dir(tmp_path) / "sweep-grid.png"), full_page=True)

    page.locator("sweep-grid sync-controls button").click()
    expect(page.locator("sweep-grid sync-controls button")).to_have_attribute("aria-label", "Pause")
    assert_in_sync(page.evaluate(SAMPLE, ["sweep-cell video", 10, 200]), 9)
    page.locator("sweep-grid sync-controls button").click()

    # Swapped: seeds down the rows, guidance across.
    page.get_by_role("button", name="Swap rows and columns").click()
    assert headers(page) == (["3", "5", "7"], ["1", "2", "3"])
    assert cell_ids(page) == [[by_coords[(g, s)] for g in (3, 5, 7)] for s in (1, 2, 3)]
    # The layout is in the URL: a reload shows it again.
    expect(page).to_have_url(f"{server.url}/#/sweeps/{sweep['id']}?rows=seed&cols=guidance_scale&tab=0")
    page.reload()
    expect(page.locator("sweep-cell")).to_have_count(9)
    expect(page.locator("#sweep-rows")).to_have_value("seed")
    assert headers(page) == (["3", "5", "7"], ["1", "2", "3"])
    # Choosing the axis the columns have for the rows swaps them back.
    page.select_option("#sweep-rows", "guidance_scale")
    assert headers(page) == (["1", "2", "3"], ["3", "5", "7"])
    # No column axis: the seeds become tabs, one column of guidance scales each.
    page.select_option("#sweep-cols", "")
    expect(page.get_by_role("tab")).to_have_count(3)
    page.get_by_role("tab", name="Seed 2").click()
    assert cell_ids(page) == [[by_coords[(g, 2)]] for g in (3, 5, 7)]
    expect(page).to_have_url(f"{server.url}/#/sweeps/{sweep['id']}?rows=guidance_scale&cols=&tab=1")
    page.reload()
    expect(page.get_by_role("tab", name="Seed 2")).to_have_attribute("aria-selected", "true")
    assert cell_ids(page) == [[by_coords[(g, 2)]] for g in (3, 5, 7)]
    # A name that is no axis: the default layout (guidance down, seeds across).
    page.goto(f"{server.url}/#/sweeps/{sweep['id']}?rows=nope&cols=seed")
    expect(page.get_by_role("tab")).to_have_count(0)
    assert headers(page) == (["1", "2", "3"], ["3", "5", "7"])
    page.select_option("#sweep-cols", "")
    page.select_option("#sweep-cols", "seed")
    expect(page.get_by_role("tab")).to_have_count(0)

    # Hover or focus shows a cell's parameters.
    target = page.locator(f"sweep-cell[data-id='{by_coords[(5, 1)]}']")
    target.hover()
    expect(target.locator(".cell-params")).to_be_visible()
    expect(target.locator(".cell-params")).to_contain_text("Guidance scale 5 · Seed 1")
    expect(target.locator(".cell-params")).to_contain_text("416×240")
    page.mouse.move(0, 0)
    expect(target.locator(".cell-params")).to_be_hidden()
    target.locator(".cell-open").focus()
    expect(target.locator(".cell-params")).to_be_visible()

    # A click opens the job; its details link back to the sweep.
    target.locator(".cell-open").click()
    expect(page).to_have_url(f"{server.url}/#/jobs/{by_coords[(5, 1)]}")
    details = page.locator("dialog.detail")
    expect(details).to_be_visible()
    expect(details.get_by_role("link", name="Sweep")).to_have_attribute("href", f"#/sweeps/{sweep['id']}")
    page.keyboard.press("Escape")
    expect(page).to_have_url(f"{server.url}/#/sweeps/{sweep['id']}?rows=guidance_scale&cols=seed&tab=0")
    expect(page.locator("sweep-cell")).to_have_count(9)

    # "Use these settings": New job with that cell's values.
    page.locator(f"sweep-cell[data-id='{by_coords[(7, 2)]}'] .use-settings").click()
    dialog = page.locator("dialog.create-job")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#cj-title")).to_have_text("New job from these settings")
    expect(dialog.locator("#cj-guidance_scale")).to_have_value("7")
    expect(dialog.locator("#cj-seed")).to_have_value("2")
    expect(dialog.locator("#cj-height")).to_have_value("240")
    page.keyboard.press("Escape")

    # A phone: "Use these settings" wraps inside its cell, and the row labels' column stays narrow.
    page.set_viewport_size({"width": 390, "height": 844})
    cut = page.evaluate("""() => [...document.querySelectorAll('sweep-cell .use-settings')].filter((button) => {
        const cell = button.closest('sweep-cell').getBoundingClientRect();
        const box = button.getBoundingClientRect();
        return button.scrollWidth > button.clientWidth + 1 || box.right > cell.right + 1;
    }).length""")
    assert cut == 0
    corner = page.locator("sweep-grid th.corner").bounding_box()
    assert corner and corner["width"] < 390 / 5, corner


def test_stop_and_delete_a_sweep_from_its_grid(server: Server, open_page: Callable[..., Page]) -> None:
    sweep = make_sweep(server, {"seed": [1, 2, 3]}, **LONG)
    first = sweep["jobs"][0]["id"]
    server.wait_status(first, "running")
    page = open_page(server, f"/#/sweeps/{sweep['id']}")
    expect(page.locator("sweep-cell")).to_have_count(3)
    expect(page.locator(f"sweep-cell[data-id='{first}']")).to_have_attribute("data-status", "running")
    expect(page.locator(f"sweep-cell[data-id='{first}'] progress")).to_be_visible()
    page.get_by_role("button", name="Stop sweep").click()
    wait_for(lambda: all(server.job(e["id"])["status"] not in ("queued", "running") for e in sweep["jobs"]),
             what="the sweep's jobs to stop")
    for entry in sweep["jobs"]:
        expect(page.locator(f"sweep-cell[data-id='{entry['id']}']")).to_have_attribute(
            "data-status", server.job(entry["id"])["status"])
    expect(page.get_by_role("button", name="Stop sweep")).to_be_hidden()
    # "Stopped" once, on the badge, not again over the media; no play controls without a video.
    stopped = page.locator("sweep-cell[data-status='stopped']")
    expect(stopped.first.locator(".badge")).to_have_text("Stopped")
    expect(stopped.first.locator(".cell-state")).to_be_hidden()
    expect(page.locator("sweep-grid sync-controls")).to_be_hidden()

    server.client.post("/api/queue/pause")  # started again, they wait in the queue
    page.get_by_role("button", name="Start sweep").click()
    for entry in sweep["jobs"]:
        expect(page.locator(f"sweep-cell[data-id='{entry['id']}']")).to_have_attribute("data-status", "queued")
    expect(page.get_by_role("button", name="Start sweep")).to_be_hidden()

    page.get_by_role("button", name="Delete sweep").click()
    confirm = page.locator("dialog.confirm")
    expect(confirm).to_contain_text("3 jobs")
    confirm.get_by_role("button", name="Delete").click()
    expect(page).to_have_url(f"{server.url}/#/sweeps")
    expect(page.locator(f".sweep-row[data-id='{sweep['id']}']")).to_have_count(0)
    assert server.client.get(f"/api/sweeps/{sweep['id']}").status_code == 404


def test_a_64_cell_grid_holds_videos_only_near_the_viewport(server: Server, open_page: Callable[..., Page]) -> None:
    # Tiny jobs (server.create's size): 64 of them finish in moments.
    sweep = make_sweep(server, {"seed": list(range(1, 9)), "num_inference_steps": list(range(2, 10))},
                       height=64, width=64, num_frames=4)
    wait_finished(server, sweep, timeout=300)
    page = open_page(server, f"/#/sweeps/{sweep['id']}", width=1280, height=700)
    # Every cell is there at once (posters, statuses); only those near the viewport have a <video>.
    expect(page.locator("sweep-cell")).to_have_count(64)
    expect(page.locator("sweep-cell[data-status='completed']")).to_have_count(64)
    first_row = page.locator("sweep-grid tbody tr").first.locator("sweep-cell video")
    last_row = page.locator("sweep-grid tbody tr").last.locator("sweep-cell video")
    expect(first_row).to_have_count(8)
    expect(last_row).to_have_count(0)
    assert 8 <= page.locator("sweep-cell video").count() < 64
    page.locator("sweep-grid tbody tr").last.scroll_into_view_if_needed()
    expect(last_row).to_have_count(8)
    expect(first_row).to_have_count(0)
    assert page.locator("sweep-cell video").count() < 64


def test_new_sweep_from_the_sweeps_page(server: Server, open_page: Callable[..., Page]) -> None:
    page = open_page(server, "/#/sweeps")
    expect(page.locator("sweep-list .empty")).to_contain_text("No sweeps yet")
    page.get_by_role("button", name="New sweep").click()
    dialog = page.locator("dialog.sweep-dialog")
    expect(dialog).to_be_visible()
    dialog.locator("#sw-prompt").fill("Paper lanterns drifting over a quiet river at night")
    # Its axes are the model's fields, each on one row at most: another row's field is disabled.
    assert "guidance_scale" in dialog.locator("#sw-axis-0 option").evaluate_all("(os) => os.map((o) => o.value)")
    expect(dialog.locator("#sw-axis-1 option[value='guidance_scale']")).to_be_disabled()
    expect(dialog.locator("#sw-axis-0 option[value='seed']")).to_be_disabled()
    expect(dialog.locator("#sw-axis-0 option[value='num_inference_steps']")).to_be_enabled()
    # Another field: the values typed for the last one go.
    expect(dialog.locator("#sw-values-0")).to_have_value("3, 5, 7")
    dialog.locator("#sw-axis-0").select_option("num_inference_steps")
    expect(dialog.locator("#sw-values-0")).to_have_value("")
    expect(dialog.locator("#sw-axis-1 option[value='num_inference_steps']")).to_be_disabled()
    expect(dialog.locator("#sw-axis-1 option[value='guidance_scale']")).to_be_enabled()
    # Two rows of one field all the same (set by a script): refused under the second, nothing sent.
    dialog.locator("#sw-axis-1").evaluate("(select) => { select.value = 'num_inference_steps'; }")
    dialog.locator("#sw-values-0").fill("2, 3")
    dialog.get_by_role("button", name="Create sweep").click()
    expect(dialog.locator("#sw-error-1")).to_contain_text("Steps is already an axis above")
    expect(dialog.locator("#sw-error-0")).to_be_hidden()
    assert server.client.get("/api/sweeps").json() == []
    dialog.locator("#sw-axis-1").select_option("seed")
    expect(dialog.locator("#sw-error-1")).to_be_hidden()
    # A model axis is ticked from the catalogue, not typed.
    dialog.get_by_role("button", name="Add an axis").click()
    dialog.locator("#sw-axis-2").select_option("model_id")
    expect(dialog.locator("#sw-values-2")).to_be_hidden()
    models = dialog.get_by_role("group", name="Axis 3 models")
    expect(models.locator(f"input[value='{PREVIEW}']")).to_be_visible()
    dialog.get_by_role("button", name="Remove axis 3").click()
    # A value the spec refuses is named by the server's 422, under its axis; the foot says nothing of it.
    dialog.locator("#sw-values-0").fill("2, 0")
    dialog.locator("#sw-values-1").fill("7")
    dialog.get_by_role("button", name="Create sweep").click()
    expect(dialog.locator("#sw-error-0")).to_contain_text("num_inference_steps")
    expect(dialog.locator(".form-error")).to_be_hidden()
    assert server.client.get("/api/sweeps").json() == []
    dialog.locator("#sw-values-0").fill("2, 3")
    dialog.locator("#sw-values-1").fill("7")
    dialog.get_by_role("button", name="Create sweep").click()
    expect(dialog).to_be_hidden()
    [sweep] = server.client.get("/api/sweeps").json()
    assert sweep["axes"] == {"num_inference_steps": [2, 3], "seed": [7]} and sweep["total"] == 2
    expect(page).to_have_url(f"{server.url}/#/sweeps/{sweep['id']}")
    expect(page.locator("sweep-cell")).to_have_count(2)
    server.client.post(f"/api/sweeps/{sweep['id']}/stop")


def test_the_sweeps_list_pages_and_refetches_only_when_a_status_changes(server: Server,
                                                                        open_page: Callable[..., Page]) -> None:
    server.client.post("/api/queue/pause")
    long_prompt = "A paper lantern drifting over a quiet river " * 10
    sweeps = [server.client.post("/api/sweeps", json={
        "base": {"model_id": PREVIEW, "prompt": long_prompt if number == 0 else f"Sweep {number}"},
        "axes": {"seed": [1, 2]}, "start": False}).json() for number in range(51)]
    page = open_page(server, "/#/sweeps")
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url) if "/api/sweeps?" in request.url else None)
    rows = page.locator(".sweep-row")
    expect(rows).to_have_count(50)  # a page: the newest 50
    expect(page.locator("sweep-list .count")).to_have_text("51 sweeps")
    more = page.get_by_role("button", name="Load more")
    more.click()
    expect(rows).to_have_count(51)
    expect(more).to_be_hidden()
    oldest = page.locator(f".sweep-row[data-id='{sweeps[0]['id']}'] .sweep-prompt")
    expect(oldest).to_have_text(long_prompt[:119] + "…")  # the light list's cut prompt
    # A status change of a sweep job refetches the list (its counts) ...
    job_id = sweeps[-1]["jobs"][0]["id"]
    server.client.post(f"/api/jobs/{job_id}/start")
    expect(page.locator(f".sweep-row[data-id='{sweeps[-1]['id']}'] .sweep-counts")).to_contain_text("queued")
    wait_for(lambda: len(fetched) >= 1, what="the refetch")
    count = len(fetched)
    # ... an event that leaves its status as it was (a star) does not.
    server.client.post(f"/api/jobs/{job_id}/star")
    server.client.delete(f"/api/jobs/{job_id}/star")
    page.wait_for_timeout(2500)
    assert len(fetched) == count, fetched
    expect(rows).to_have_count(51)  # what was loaded stays loaded


def test_a_sweeps_settings_from_a_preset_or_from_new_job(server: Server, open_page: Callable[..., Page]) -> None:
    tiny = {"height": 64, "width": 64, "num_frames": 5, "num_inference_steps": 3}
    response = server.client.post("/api/presets", json={"name": "Tiny", "model_id": PREVIEW, "values": tiny})
    assert response.status_code == 201, response.text
    server.client.post("/api/queue/pause")
    page = open_page(server, "/#/sweeps")
    page.get_by_role("button", name="New sweep").click()
    dialog = page.locator("dialog.sweep-dialog")
    expect(dialog).to_be_visible()
    base = dialog.locator("#sw-base")
    expect(base).to_contain_text("the model's defaults")
    # A preset's values are the base: the line says what every job shares, less the axes.
    dialog.locator("#sw-from").select_option(label="Preset: Tiny")
    expect(base).to_contain_text("Steps 3")
    expect(base).to_contain_text("Frames 5")
    dialog.locator("#sw-prompt").fill("A kite over a windy beach")
    dialog.locator("#sw-axis-0").select_option("num_inference_steps")
    expect(base).not_to_contain_text("Steps 3")  # an axis now
    dialog.locator("#sw-values-0").fill("2, 4")
    dialog.locator("#sw-values-1").fill("1")
    dialog.get_by_role("button", name="Create sweep").click()
    expect(dialog).to_be_hidden()
    [made] = server.client.get("/api/sweeps").json()
    first = server.client.get(f"/api/sweeps/{made['id']}").json()
    assert first["axes"] == {"num_inference_steps": [2, 4], "seed": [1]}
    jobs = [server.job(entry["id"]) for entry in first["jobs"]]
    assert {(job["num_frames"], job["height"], job["width"]) for job in jobs} == {(5, 64, 64)}
    assert sorted(job["num_inference_steps"] for job in jobs) == [2, 4]

    # New job's form: "Sweep these settings…" opens New sweep with its values as the base.
    page.goto(f"{server.url}/#/jobs")
    page.locator("header [data-action=new-job]").click()
    create = page.locator("dialog.create-job")
    expect(create).to_be_visible()
    page.fill("#cj-prompt", "A lighthouse in a storm")
    for name, value in (tiny | {"guidance_scale": 2.5}).items():
        page.fill(f"#cj-{name}", str(value))
    create.get_by_role("button", name="Sweep these settings…").click()
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()  # back to New job, its form as it was
    expect(dialog).to_be_hidden()
    expect(create).to_be_visible()
    expect(page.locator("#cj-prompt")).to_have_value("A lighthouse in a storm")
    create.get_by_role("button", name="Sweep these settings…").click()
    expect(dialog).to_be_visible()
    expect(dialog.locator("#sw-prompt")).to_have_value("A lighthouse in a storm")
    expect(dialog.locator("#sw-from")).to_have_value("form")
    expect(base).to_contain_text("Guidance scale 2.5")
    dialog.locator("#sw-axis-0").select_option("num_frames")
    dialog.locator("#sw-values-0").fill("5, 9")
    dialog.locator("#sw-axis-1").select_option("seed")
    dialog.locator("#sw-values-1").fill("3")
    dialog.get_by_role("button", name="Create sweep").click()
    expect(dialog).to_be_hidden()
    expect(create).to_be_hidden()  # made: New job, under it, closes too
    second = next(each for each in server.client.get("/api/sweeps").json() if each["id"] != made["id"])
    jobs = [server.job(entry["id"]) for entry in server.client.get(f"/api/sweeps/{second['id']}").json()["jobs"]]
    assert {(job["prompt"], job["guidance_scale"], job["num_inference_steps"], job["height"]) for job in jobs} == {
        ("A lighthouse in a storm", 2.5, 3, 64)}
    assert sorted(job["num_frames"] for job in jobs) == [5, 9]
    # The grid says what its jobs share.
    expect(page.locator(".sweep-shared")).to_contain_text("64×64 · 3 steps · cfg 2.5")
    expect(page.locator(".sweep-shared")).not_to_contain_text("frames")  # an axis
    for each in (made, second):
        server.client.post(f"/api/sweeps/{each['id']}/stop")


def test_new_jobs_batch_becomes_the_sweeps_axis_and_start_carries_over(server: Server,
                                                                         open_page: Callable[..., Page]) -> None:
    page = open_page(server, "/#/jobs")
    page.locator("header [data-action=new-job]").click()
    create = page.locator("dialog.create-job")
    expect(create).to_be_visible()
    page.select_option("#cj-batch_mode", "lines")
    page.fill("#cj-prompt", "A fox in the snow\nA heron at dawn")
    page.locator("#cj-start").uncheck()
    create.get_by_role("button", name="Sweep these settings…").click()
    dialog = page.locator("dialog.sweep-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#sw-axis-0")).to_have_value("prompt")
    expect(dialog.locator("#sw-values-0")).to_have_value("A fox in the snow | A heron at dawn")
    expect(dialog.locator(".sweep-axis-row")).to_have_count(1)
    dialog.get_by_role("button", name="Create sweep").click()
    expect(dialog).to_be_hidden()
    [made] = server.client.get("/api/sweeps").json()
    sweep = server.client.get(f"/api/sweeps/{made['id']}").json()
    assert sweep["axes"] == {"prompt": ["A fox in the snow", "A heron at dawn"]}
    assert [entry["status"] for entry in sweep["jobs"]] == ["pending", "pending"]  # "Start immediately" was off

    page.locator("header [data-action=new-job]").click()
    expect(create).to_be_visible()
    page.select_option("#cj-batch_mode", "seeds")
    page.fill("#cj-batch_count", "3")
    page.fill("#cj-seed", "40")
    page.fill("#cj-prompt", "A lighthouse")
    create.get_by_role("button", name="Sweep these settings…").click()
    expect(dialog.locator("#sw-axis-0")).to_have_value("seed")
    expect(dialog.locator("#sw-values-0")).to_have_value("40, 41, 42")


def test_a_pending_sweep_offers_start_not_stop_and_the_list_fits_a_phone(server: Server,
                                                                        open_page: Callable[..., Page]) -> None:
    answer = server.client.post("/api/sweeps", json={"base": {"model_id": PREVIEW}, "start": False,
                                                      "axes": {"prompt": ["a red fox, running", "a blue whale"],
                                                               "seed": [1, 2]}})
    assert answer.status_code == 201, answer.text
    sweep = answer.json()
    page = open_page(server, f"/#/sweeps/{sweep['id']}")
    expect(page.locator("sweep-cell")).to_have_count(4)
    expect(page.get_by_role("button", name="Start sweep")).to_be_visible()
    expect(page.get_by_role("button", name="Stop sweep")).to_be_hidden()  # nothing queued or running to stop

    phone = open_page(server, "/#/sweeps", width=390, height=844)
    row = phone.locator(f".sweep-row[data-id='{sweep['id']}']")
    expect(row.locator(".sweep-axes")).to_contain_text("a red fox, running | a blue whale")  # prompts hold commas
    prompt = row.locator(".sweep-prompt").bounding_box()
    assert prompt and prompt["width"] > 250, prompt  # the row's full width, not squeezed to a word a line
