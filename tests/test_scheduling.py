"""The queue and the device inventory, through the real server."""

from __future__ import annotations

import pytest

from conftest import LONG, Server, wait_for


def test_two_jobs_on_one_slot_run_one_after_the_other(server: Server) -> None:
    first = server.create(start=True, num_inference_steps=40, height=256, width=256, num_frames=17)
    second = server.create(start=True, num_inference_steps=40, height=256, width=256, num_frames=17)
    assert server.job(second["id"])["status"] == "queued"
    a = server.wait_status(first["id"], "completed")
    b = server.wait_status(second["id"], "completed")
    assert b["started_at"] >= a["finished_at"]
    assert a["devices"] == b["devices"] == ["cpu0"]


@pytest.mark.slow
def test_two_slot_job_blocks_a_one_slot_job_until_done(start_server) -> None:
    server = start_server("--cpu-slots", "2")
    wide = server.create(start=True, num_gpus=2, **LONG)
    running = server.wait_status(wide["id"], "running")
    assert sorted(running["devices"]) == ["cpu0", "cpu1"]
    narrow = server.create(start=True)
    assert server.job(narrow["id"])["status"] == "queued"
    assert server.job(narrow["id"])["queue_position"] == 1
    # it stays queued while the wide job holds both slots
    assert all(server.job(narrow["id"])["status"] == "queued" for _ in range(20))
    server.client.post(f"/api/jobs/{wide['id']}/stop")
    stopped = server.wait_status(wide["id"], "stopped")
    done = server.wait_status(narrow["id"], "completed")
    assert done["started_at"] >= stopped["finished_at"]


def test_fifo_head_is_not_starved_by_smaller_jobs(start_server) -> None:
    server = start_server("--cpu-slots", "2")
    holder = server.create(start=True, **LONG)
    server.wait_status(holder["id"], "running")
    wide = server.create(start=True, num_gpus=2)  # needs both: waits for the holder
    small = server.create(start=True)  # one slot is free, but it is behind `wide`
    assert server.job(small["id"])["status"] == "queued"
    assert server.job(wide["id"])["queue_position"] == 1
    server.client.post(f"/api/jobs/{holder['id']}/stop")
    w = server.wait_status(wide["id"], "completed")
    s = server.wait_status(small["id"], "completed")
    assert s["started_at"] >= w["started_at"]


def test_concurrent_jobs_get_disjoint_devices(start_server) -> None:
    server = start_server("--cpu-slots", "2")
    a = server.create(start=True, **LONG)
    b = server.create(start=True, **LONG)
    ra = server.wait_status(a["id"], "running")
    rb = server.wait_status(b["id"], "running")
    assert set(ra["devices"]).isdisjoint(rb["devices"])
    workers = server.health()["workers"]
    assert sorted(tuple(w["devices"]) for w in workers) == [("cpu0",), ("cpu1",)]
    assert len({w["pid"] for w in workers}) == 2
    for job in (a, b):
        server.client.post(f"/api/jobs/{job['id']}/stop")


def test_worker_keeps_its_model_between_jobs(server: Server) -> None:
    first = server.create(start=True)
    first = server.wait_status(first["id"], "completed")
    pid = server.worker_pids()
    second = server.create(start=True, prompt="another prompt", seed=3)
    second = server.wait_status(second["id"], "completed")
    assert server.worker_pids() == pid
    assert "loaded in" in server.log_text(first["id"])
    assert "reusing the loaded model" in server.log_text(second["id"])
    assert "loaded in" not in server.log_text(second["id"])
    # The load is recorded apart from the run, for the scheduler's estimates.
    run_s = first["finished_at"] - first["started_at"]
    assert first["load_seconds"] is not None and 0 <= first["load_seconds"] <= run_s
    assert second["load_seconds"] is None
    # The preview renderer has no parameter count: no prior. The first run is the second's history.
    assert (first["estimate_seconds"], first["estimate_source"]) == (None, None)
    assert second["estimate_source"] == "same_shape" and second["estimate_seconds"] == round(run_s, 3)


def test_too_many_devices_is_refused_at_create(start_server) -> None:
    server = start_server("--cpu-slots", "2")
    response = server.client.post("/api/jobs", json={"model_id": "fastvideo-ui/preview", "prompt": "x",
                                                     "num_gpus": 3})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "num_gpus"
    assert "2" in response.json()["detail"][0]["msg"]


@pytest.mark.slow
def test_progress_moves_with_phase_step_and_eta(server: Server) -> None:
    # Long enough (seconds) that a poll every 20 ms sees it running at several steps, even
    # with the suite's other workers loading both cores.
    job = server.create(start=True, num_inference_steps=400, height=256, width=256, num_frames=33)
    seen = []

    def sample() -> bool:
        current = server.job(job["id"])
        if current["status"] == "running" and current["step"]:
            seen.append(current)
        return current["status"] == "completed"

    wait_for(sample, timeout=120, interval=0.02)
    steps = [s["step"] for s in seen]
    assert len(set(steps)) >= 2, steps
    assert steps == sorted(steps)
    middle = seen[len(seen) // 2]
    assert middle["phase"] in ("denoising", "decoding", "saving")
    assert middle["progress_msg"] == f"{middle['step']}/400 steps"
    assert 0 < middle["progress"] <= 100 and middle["eta_seconds"] is not None
