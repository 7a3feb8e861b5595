"""Priorities, moves, hold and release, a paused queue, and the retry after an
out-of-memory failure, through the real server."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from conftest import LONG, FakeFastVideo, Server, wait_for


def _order(server: Server) -> list[str]:
    return [job["id"] for job in server.client.get("/api/queue").json()["jobs"]]


def _blocked(server: Server) -> dict:  # type: ignore[type-arg]
    blocker = server.create(start=True, **LONG)
    server.wait_status(blocker["id"], "running")
    return blocker


def test_priority_orders_the_queue_and_the_runs(server: Server) -> None:
    blocker = _blocked(server)
    low = server.create(start=True, prompt="low")
    high = server.create(start=True, prompt="high", priority=5)
    later = server.create(start=True, prompt="later")
    assert _order(server) == [high["id"], low["id"], later["id"]]
    assert server.job(high["id"])["queue_position"] == 1 and server.job(low["id"])["queue_position"] == 2
    # Lowering a queued job's priority moves it back.
    assert server.client.post(f"/api/jobs/{high['id']}/priority", json={"priority": -1}).json()["priority"] == -1
    assert _order(server) == [low["id"], later["id"], high["id"]]
    server.client.post(f"/api/jobs/{blocker['id']}/stop")
    done = [server.wait_status(job["id"], "completed") for job in (low, later, high)]
    assert [job["started_at"] for job in done] == sorted(job["started_at"] for job in done)
    bad = server.client.post("/api/jobs", json={"model_id": "fastvideo-ui/preview", "prompt": "p", "priority": 101})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "priority"]


def test_moves_to_the_top_bottom_and_before_another(server: Server) -> None:
    blocker = _blocked(server)
    a, b, c = (server.create(start=True, prompt=name) for name in "abc")
    assert server.client.post(f"/api/jobs/{c['id']}/move", json={"to": "top"}).status_code == 200
    assert _order(server) == [c["id"], a["id"], b["id"]]
    server.client.post(f"/api/jobs/{c['id']}/move", json={"to": "bottom"})
    assert _order(server) == [a["id"], b["id"], c["id"]]
    server.client.post(f"/api/jobs/{c['id']}/move", json={"before": b["id"]})
    assert _order(server) == [a["id"], c["id"], b["id"]]
    # Past a job of higher priority, a move takes that priority.
    urgent = server.create(start=True, prompt="urgent", priority=9)
    moved = server.client.post(f"/api/jobs/{b['id']}/move", json={"to": "top"}).json()
    assert moved["priority"] == 9 and _order(server)[0] == b["id"] and _order(server)[1] == urgent["id"]
    assert "moved to the top of the queue, priority 9" in server.log_text(b["id"])
    # What cannot be moved, and how it is said.
    running = server.client.post(f"/api/jobs/{blocker['id']}/move", json={"to": "top"})
    assert running.status_code == 409 and "it is running" in running.json()["detail"]
    nowhere = server.client.post(f"/api/jobs/{a['id']}/move", json={"before": str(uuid.uuid4())})
    assert nowhere.status_code == 422 and nowhere.json()["detail"][0]["loc"] == ["body", "before"]
    both = server.client.post(f"/api/jobs/{a['id']}/move", json={"to": "top", "before": b["id"]})
    assert both.status_code == 422
    assert server.client.post(f"/api/jobs/{a['id']}/move", json={"to": "middle"}).status_code == 422
    assert server.client.post(f"/api/jobs/{uuid.uuid4()}/move", json={"to": "top"}).status_code == 404
    server.client.post(f"/api/jobs/{blocker['id']}/stop")


def test_a_held_job_keeps_its_place_and_starts_only_when_released(server: Server) -> None:
    blocker = _blocked(server)
    held = server.create(start=True, prompt="held")
    after = server.create(start=True, prompt="after")
    assert server.client.post(f"/api/jobs/{held['id']}/hold").json()["held"] is True
    server.client.post(f"/api/jobs/{blocker['id']}/stop")
    server.wait_status(after["id"], "completed")
    assert server.job(held["id"])["status"] == "queued" and _order(server) == [held["id"]]
    assert server.client.post(f"/api/jobs/{after['id']}/hold").status_code == 409  # not queued
    assert server.client.post(f"/api/jobs/{held['id']}/release").json()["held"] is False
    server.wait_status(held["id"], "completed")
    assert "held: it keeps its place" in server.log_text(held["id"])


def test_a_paused_queue_starts_nothing_until_resumed_even_after_a_restart(
        start_server: Callable[..., Server], tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "paused"
    server = start_server(data_dir=data)
    running = server.create(start=True, num_inference_steps=40)
    server.wait_status(running["id"], "running")
    assert server.client.post("/api/queue/pause").json()["paused"] is True
    waiting = server.create(start=True)
    server.wait_status(running["id"], "completed", timeout=60)  # what runs, finishes
    assert server.job(waiting["id"])["status"] == "queued"
    server.terminate()
    again = start_server(data_dir=data)
    assert again.client.get("/api/queue").json()["paused"] is True
    assert again.job(waiting["id"])["status"] == "queued"
    assert again.client.post("/api/queue/resume").json()["paused"] is False
    again.wait_status(waiting["id"], "completed")


def test_out_of_memory_retries_once_first_in_the_queue_with_more_offloading(
        fastvideo: Callable[..., FakeFastVideo]) -> None:
    fake = fastvideo("--gpus", "0")
    job = fake.create(start=True, prompt="[oom] too big", retry_on_oom=True, dit_layerwise_offload=False,
                      text_encoder_cpu_offload=False)
    failed = fake.server.wait_status(job["id"], "failed", timeout=60)
    assert failed["attempts"] == 2 and "out of memory" in failed["error"]
    assert failed["dit_layerwise_offload"] is True and failed["text_encoder_cpu_offload"] is True
    log = fake.server.log_text(job["id"])
    assert log.count("CUDA out of memory on GPU 0") == 2
    assert ("queued again, once, first in the queue, with more offloading "
            "(dit_layerwise_offload, text_encoder_cpu_offload on)") in log
    # Without asking, or with nothing left to offload, one run only.
    plain = fake.create(start=True, prompt="[oom] too big")
    assert fake.server.wait_status(plain["id"], "failed", timeout=60)["attempts"] == 1
    full = fake.create(start=True, prompt="[oom] too big", retry_on_oom=True)
    assert fake.server.wait_status(full["id"], "failed", timeout=60)["attempts"] == 1
    wait_for(lambda: "every offload already on" in fake.server.log_text(full["id"]), timeout=5)
