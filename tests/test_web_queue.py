"""Queue control in a real browser: pause and resume with its banner, priority
from the New job dialog, Top/Bottom, drag to reorder, hold and release."""

from __future__ import annotations

from typing import Callable

from playwright.sync_api import Page, expect

from conftest import LONG, Server, card, wait_for


def _order(server: Server) -> list[str]:
    return [job["id"] for job in server.client.get("/api/queue").json()["jobs"]]


def test_pause_shows_a_banner_and_resume_runs_what_waited(server: Server, open_page: Callable[..., Page]) -> None:
    page = open_page(server)
    banner = page.locator("queue-banner")
    expect(banner).to_be_hidden()
    page.locator("header [data-action=toggle-queue]").click()
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("The queue is paused")
    expect(page.locator("header [data-action=toggle-queue]")).to_have_text("Resume queue")
    assert server.client.get("/api/queue").json()["paused"] is True
    job = server.create(start=True)
    ours = card(page, job["id"])
    # That nothing starts while paused is shown without a sleep in
    # test_queue_control (a job runs to its end there while another waits).
    expect(ours.locator(".badge")).to_have_text("Queued")
    # Another client resumes: this page follows the event.
    server.client.post("/api/queue/resume")
    expect(banner).to_be_hidden()
    expect(ours.locator(".badge")).to_have_text("Completed", timeout=30_000)
    page.locator("header [data-action=toggle-queue]").click()
    expect(banner).to_be_visible()
    banner.get_by_role("button", name="Resume the queue").click()
    expect(banner).to_be_hidden()
    assert server.client.get("/api/queue").json()["paused"] is False


def test_priority_top_bottom_drag_hold_and_release(server: Server, open_page: Callable[..., Page]) -> None:
    blocker = server.create(start=True, prompt="blocker", **LONG)
    server.wait_status(blocker["id"], "running")
    a, b, c = (server.create(start=True, prompt=f"job {name}") for name in "abc")
    page = open_page(server)

    # Priority from the dialog: the new job goes first.
    page.locator("header [data-action=new-job]").click()
    expect(page.locator("dialog.create-job")).to_be_visible()  # opened, its model list filled
    page.fill("#cj-prompt", "urgent")
    for name, value in {"height": 64, "width": 64, "num_frames": 4, "num_inference_steps": 3}.items():
        page.fill(f"#cj-{name}", str(value))
    page.locator("dialog.create-job details.advanced summary").click()
    page.fill("#cj-priority", "5")
    page.keyboard.press("Control+Enter")
    urgent = wait_for(lambda: next((j for j in server.client.get("/api/jobs").json() if j["prompt"] == "urgent"),
                                   None))
    assert urgent["priority"] == 5 and _order(server)[0] == urgent["id"]
    expect(card(page, urgent["id"]).locator(".priority")).to_have_text("priority 5")
    expect(card(page, urgent["id"]).locator(".queue-position")).to_have_text("#1 in queue")

    card(page, c["id"]).locator("[data-action=move-bottom]").click()
    card(page, b["id"]).locator("[data-action=move-bottom]").click()
    wait_for(lambda: _order(server) == [urgent["id"], a["id"], c["id"], b["id"]])
    card(page, b["id"]).locator("[data-action=move-top]").click()
    wait_for(lambda: _order(server)[0] == b["id"])
    expect(card(page, b["id"]).locator(".queue-position")).to_have_text("#1 in queue")

    # Drag c onto a: c goes just before a.
    card(page, c["id"]).drag_to(card(page, a["id"]))
    wait_for(lambda: _order(server).index(c["id"]) == _order(server).index(a["id"]) - 1, what="the drop")

    held = card(page, a["id"])
    held.locator("[data-action=hold]").click()
    expect(held.locator(".badge")).to_have_text("Queued · held")
    expect(held.locator("[data-action=release]")).to_be_visible()
    assert server.job(a["id"])["held"] is True
    held.locator("[data-action=release]").click()
    expect(held.locator(".badge")).to_have_text("Queued")
    assert server.job(a["id"])["held"] is False
    # Queue controls are for queued jobs only.
    expect(card(page, blocker["id"]).locator("[data-action=move-top]")).to_be_hidden()
    server.client.post(f"/api/jobs/{blocker['id']}/stop")
