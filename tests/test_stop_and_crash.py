"""Stops, crashed workers and a killed server: real processes, real signals."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
from pathlib import Path
from typing import Any

import psutil
import pytest

from conftest import LONG, LONG_STEPS, Server, process_gone, wait_for, worker_processes


def _running_worker(server: Server, job_id: str) -> int:
    """The pid of the worker running `job_id`, once it is past its first step."""
    wait_for(lambda: (server.job(job_id)["step"] or 0) >= 1, what=f"{job_id} to be denoising")

    def find() -> int | None:
        for worker in server.health()["workers"]:
            if worker["job_id"] == job_id and worker["pid"]:
                return worker["pid"]
        return None

    return wait_for(find, what=f"the worker of {job_id}")


def _descendants(pid: int) -> list[int]:
    return [p.pid for p in psutil.Process(pid).children(recursive=True)]


def test_cooperative_stop_keeps_the_worker_warm_and_idle(server: Server) -> None:
    job = server.create(start=True, **LONG)
    server.wait_status(job["id"], "running")
    wait_for(lambda: (server.job(job["id"])["step"] or 0) > 2, what="some steps")
    pid = _running_worker(server, job["id"])
    answer = server.client.post(f"/api/jobs/{job['id']}/stop")
    assert answer.status_code == 200
    stopped = server.wait_status(job["id"], "stopped")
    assert stopped["step"] < LONG_STEPS and stopped["error"] is None
    assert "at the next step" in server.log_text(job["id"])
    # the same worker, now idle, is the only worker process
    assert [w["pid"] for w in server.health()["workers"]] == [pid]
    assert server.health()["workers"][0]["job_id"] is None
    assert server.health()["devices"]["allocated"] == {}
    follow = server.create(start=True)
    server.wait_status(follow["id"], "completed")
    assert server.worker_pids() == [pid]
    server.terminate()
    wait_for(lambda: process_gone(pid), timeout=10, what="the worker to exit with the server")


def test_forced_stop_kills_the_whole_tree(start_server) -> None:
    server = start_server("--stop-grace", "1")
    job = server.create(start=True, **LONG)
    server.wait_status(job["id"], "running")
    pid = _running_worker(server, job["id"])
    # A hung worker: frozen, it can never honour the cooperative stop.
    children = _descendants(pid)
    os.kill(pid, signal.SIGSTOP)
    server.client.post(f"/api/jobs/{job['id']}/stop")
    stopped = server.wait_status(job["id"], "stopped", timeout=30)
    assert stopped["finished_at"] is not None
    assert "forced" in server.log_text(job["id"]) and "killing worker" in server.log_text(job["id"])
    for gone in [pid, *children]:
        wait_for(lambda gone=gone: process_gone(gone), timeout=10, what=f"process {gone} to be gone")
    assert server.health()["devices"]["allocated"] == {}
    follow = server.create(start=True)
    server.wait_status(follow["id"], "completed")
    assert pid not in server.worker_pids()
    # We killed it: the server's log does not guess at memory.
    assert "killed by SIGKILL" in server.output.read_text() and "(out of memory?)" not in server.output.read_text()


def test_stopping_a_queued_job_takes_it_out_of_the_queue(server: Server) -> None:
    blocker = server.create(start=True, **LONG)
    server.wait_status(blocker["id"], "running")
    queued = server.create(start=True)
    answer = server.client.post(f"/api/jobs/{queued['id']}/stop").json()
    assert answer["status"] == "stopped" and answer["started_at"] is None
    server.client.post(f"/api/jobs/{blocker['id']}/stop")
    server.wait_status(blocker["id"], "stopped")
    assert server.job(queued["id"])["status"] == "stopped"
    assert "taken out of the queue" in server.log_text(queued["id"])


def test_delete_a_running_job_stops_it_and_removes_everything(server: Server) -> None:
    done = server.create(start=True)
    server.wait_status(done["id"], "completed")
    job = server.create(start=True, **LONG)
    server.wait_status(job["id"], "running")
    assert server.client.delete(f"/api/jobs/{job['id']}").status_code == 200
    assert server.client.get(f"/api/jobs/{job['id']}").status_code == 404
    assert not (server.data_dir / "logs" / f"{job['id']}.log").exists()
    assert server.health()["devices"]["allocated"] == {}
    server.client.delete(f"/api/jobs/{done['id']}")
    assert list((server.data_dir / "outputs").iterdir()) == []
    nxt = server.create(start=True)
    server.wait_status(nxt["id"], "completed")


def test_worker_killed_with_sigkill_fails_only_its_job(server: Server) -> None:
    job = server.create(start=True, **LONG)
    queued = server.create(start=True)
    server.wait_status(job["id"], "running")
    pid = _running_worker(server, job["id"])
    os.kill(pid, signal.SIGKILL)
    failed = server.wait_status(job["id"], "failed")
    assert "killed by SIGKILL" in failed["error"] and "while denoising" in failed["error"]
    assert failed["error"] in server.log_text(job["id"])
    done = server.wait_status(queued["id"], "completed")
    assert done["status"] == "completed"
    assert pid not in server.worker_pids()
    assert server.health()["status"] == "ok"


def test_segfaulting_worker_fails_its_job_with_the_signal(server: Server) -> None:
    job = server.create(start=True, **LONG)
    server.wait_status(job["id"], "running")
    os.kill(_running_worker(server, job["id"]), signal.SIGSEGV)
    assert "SIGSEGV" in server.wait_status(job["id"], "failed")["error"]
    again = server.client.post(f"/api/jobs/{job['id']}/start")
    assert again.status_code == 200
    server.client.post(f"/api/jobs/{job['id']}/stop")
    assert server.wait_status(job["id"], "stopped")["attempts"] == 2


def test_server_killed_mid_job_loses_nothing(start_server, tmp_path) -> None:
    data = tmp_path / "shared-data"
    server = start_server(data_dir=data)
    completed = server.create(start=True, prompt="kept")
    server.wait_status(completed["id"], "completed")
    pending = server.create(prompt="waiting for a start")
    running = server.create(start=True, **LONG)
    queued = server.create(start=True, prompt="queued behind")
    server.wait_status(running["id"], "running")
    worker_pid = _running_worker(server, running["id"])
    before = {j["id"]: j for j in server.client.get("/api/jobs").json()}

    server.kill9()
    wait_for(lambda: process_gone(worker_pid), timeout=15, what="the orphaned worker to exit")

    again = start_server(data_dir=data)
    after = {j["id"]: j for j in again.client.get("/api/jobs").json()}
    assert after.keys() == before.keys()
    assert after[completed["id"]]["status"] == "completed"
    assert after[completed["id"]]["output_path"] == before[completed["id"]]["output_path"]
    assert again.client.get(f"/api/jobs/{completed['id']}/video").status_code == 200
    assert after[pending["id"]]["status"] == "pending"
    interrupted = after[running["id"]]
    assert interrupted["status"] == "failed" and "interrupted" in interrupted["error"]
    assert interrupted["finished_at"] is not None
    for job_id, job in before.items():
        for field in ("prompt", "seed", "num_inference_steps", "created_at", "model_id"):
            assert after[job_id][field] == job[field]
    # the queued job was not dropped: it runs on the new server
    assert again.wait_status(queued["id"], "completed")
    log_lines = again.client.get(f"/api/jobs/{running['id']}/logs").json()["lines"]
    assert any("started on" in line for line in log_lines) and "interrupted" in log_lines[-1]
    # nothing the first server started is still alive
    assert all(p.pid != worker_pid for p in worker_processes())


def test_log_isolation_between_concurrent_jobs(start_server) -> None:
    server = start_server("--cpu-slots", "2")
    a = server.create(start=True, prompt="alpha", seed=111, num_inference_steps=80, height=256, width=256,
                      num_frames=25)
    b = server.create(start=True, prompt="beta", seed=222, num_inference_steps=80, height=256, width=256,
                      num_frames=25)
    # Both ran, at the same time, on different slots. Read from their records,
    # not by catching each in "running": a loaded machine's poll can miss that
    # (this test once waited 60 s for a "running" it never saw).
    ra = server.wait_status(a["id"], "completed", "failed", "stopped")
    rb = server.wait_status(b["id"], "completed", "failed", "stopped")
    assert ra["status"] == rb["status"] == "completed", (ra["error"], rb["error"])
    assert ra["devices"] != rb["devices"]
    assert ra["started_at"] < rb["finished_at"] and rb["started_at"] < ra["finished_at"]
    log_a, log_b = server.log_text(a["id"]), server.log_text(b["id"])
    assert "seed 111" in log_a and "seed 222" not in log_a
    assert "seed 222" in log_b and "seed 111" not in log_b
    assert b["id"] not in log_a and a["id"] not in log_b
    assert "\x1e" not in log_a + log_b  # protocol markers never reach a log


def _stored(data: Path, job_id: str) -> dict[str, Any]:
    """The job's row and its webhook events, read from the database of a server that has exited."""
    with sqlite3.connect(data / "jobs.sqlite3") as db:
        db.row_factory = sqlite3.Row
        row = dict(db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())
        row["webhooks"] = [event for (event,) in db.execute(
            "SELECT event FROM webhook_deliveries WHERE job_id = ? ORDER BY created_at", (job_id,))]
    return row


@pytest.mark.slow
def test_graceful_shutdown_queues_the_running_job_again(start_server, tmp_path) -> None:
    data = tmp_path / "graceful"
    # Every job event is recorded as a webhook delivery (this receiver cannot be reached offline).
    server = start_server("--webhook-url", "https://hooks.example.com/x", data_dir=data)
    job = server.create(start=True, **LONG)
    behind = server.create(start=True, prompt="queued behind")
    pid = _running_worker(server, job["id"])
    server.terminate()
    assert process_gone(pid)
    stored = _stored(data, job["id"])
    assert stored["status"] == "queued", stored["error"]
    assert stored["error"] is None and stored["finished_at"] is None and stored["started_at"] is None
    assert stored["attempts"] == 1 and stored["phase"] == "queued"
    assert "failed" not in stored["webhooks"], stored["webhooks"]
    # first in the queue, ahead of the job that was waiting behind it
    assert stored["queue_rank"] < _stored(data, behind["id"])["queue_rank"]

    again = start_server("--webhook-url", "https://hooks.example.com/x", data_dir=data)
    wait_for(lambda: again.job(job["id"])["attempts"] == 2 and (again.job(job["id"])["step"] or 0) >= 1,
             what="the job to run again")
    assert again.job(behind["id"])["status"] == "queued"
    log_text = again.log_text(job["id"])
    assert "queued again, first in the queue: the server shut down while the job was running" in log_text
    assert log_text.count("started on") == 2
    again.client.post(f"/api/jobs/{job['id']}/stop")
    assert again.wait_status(job["id"], "stopped")["error"] is None


@pytest.mark.slow
def test_ctrl_c_queues_the_running_job_again_before_waiting_for_connections(start_server, tmp_path) -> None:
    """uvicorn waits up to 5 s for open connections (a page's event stream)
    before the app's own shutdown, and a second Ctrl-C skips both: the job's
    state is written at the first, while the server is still up."""
    data = tmp_path / "forced"
    server = start_server(data_dir=data)
    job = server.create(start=True, **LONG)
    pid = _running_worker(server, job["id"])
    with socket.create_connection(("127.0.0.1", server.port)) as stream:
        stream.sendall(f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
        assert stream.recv(4096).startswith(b"HTTP/1.1 200")
        assert server.proc is not None
        server.proc.send_signal(signal.SIGINT)

        def refused() -> bool:  # uvicorn closed its listener: it is waiting for the stream
            try:
                socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
            except OSError:
                return True
            return False

        wait_for(refused, timeout=20, what="the server to stop listening")
        assert server.proc.poll() is None, "the server did not wait for the open stream"
        stored = _stored(data, job["id"])
        assert stored["status"] == "queued", (stored["status"], stored["error"])
        assert process_gone(pid)
        server.proc.send_signal(signal.SIGINT)  # the second Ctrl-C: uvicorn's forced exit
        server.proc.wait(20)
    assert _stored(data, job["id"])["status"] == "queued"
    again = start_server(data_dir=data)
    wait_for(lambda: again.job(job["id"])["attempts"] == 2, what="the job to run again")
    again.client.post(f"/api/jobs/{job['id']}/stop")
    again.wait_status(job["id"], "stopped")


@pytest.mark.slow
def test_a_job_being_stopped_at_shutdown_ends_stopped(start_server, tmp_path) -> None:
    data = tmp_path / "stopping"
    server = start_server("--stop-grace", "600", data_dir=data)
    job = server.create(start=True, **LONG)
    pid = _running_worker(server, job["id"])
    os.kill(pid, signal.SIGSTOP)  # it cannot honour the stop: the job stays stopping
    server.client.post(f"/api/jobs/{job['id']}/stop")
    wait_for(lambda: server.job(job["id"])["phase"] == "stopping", what="the job to be stopping")
    server.terminate()
    stored = _stored(data, job["id"])
    assert stored["status"] == "stopped" and stored["error"] is None and stored["finished_at"] is not None


@pytest.mark.slow
def test_idle_shutdown_logs_no_signal(start_server) -> None:
    server = start_server()
    job = server.create(start=True)
    server.wait_status(job["id"], "completed")
    [pid] = server.worker_pids()  # idle, its model loaded
    server.terminate()
    assert process_gone(pid)
    output = server.output.read_text()
    assert f"(pid {pid}) ended with the server" in output
    assert "SIGKILL" not in output, output
