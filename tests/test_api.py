"""Every endpoint of the seed's table and the additions, against the real server."""

from __future__ import annotations

import json
import logging
import os
import signal
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from conftest import LONG, PREVIEW, Server, wait_for
from fastvideo_ui.api.openapi import Job

SEED_FIELDS = {
    "id", "model_id", "prompt", "status", "created_at", "started_at", "finished_at", "error",
    "output_path", "log_file_path", "num_inference_steps", "num_frames", "height", "width",
    "guidance_scale", "seed", "num_gpus", "progress", "progress_msg", "phase",
    "dit_cpu_offload", "text_encoder_cpu_offload", "use_fsdp_inference",
}


def test_models_catalogue(server: Server) -> None:
    models = server.client.get("/api/models").json()
    by_id = {m["id"]: m for m in models}
    preview = by_id[PREVIEW]
    assert preview["available"] is True and "not a model" in preview["description"]
    wan = by_id["Wan-AI/Wan2.1-T2V-1.3B-Diffusers"]
    assert wan["available"] is False and wan["reason"].startswith("fastvideo is not installed")
    assert wan["defaults"] == wan["defaults"] | {"num_inference_steps": 50, "num_frames": 81, "height": 480,
                                                 "width": 832, "guidance_scale": 3.0, "fps": 16}
    assert wan["limits"]["num_frames"]["form"] == "4k+1"
    for model in models:
        assert {"id", "label", "type", "available", "reason", "defaults", "limits", "options"} <= model.keys()
    # the settings a job can carry that mean something to the model's backend
    assert preview["options"] == [] and "dit_layerwise_offload" in wan["options"]


def test_the_documented_job_model_names_every_field_a_job_has(server: Server) -> None:
    # Routes return job_json's dict and the schema documents it with a separate
    # model; the fuzz test catches a documented field that vanished, this one a
    # new field nobody documented.
    assert set(server.create().keys()) == set(Job.model_fields)


def test_create_defaults_and_seed_fields(server: Server) -> None:
    response = server.client.post("/api/jobs", json={"model_id": PREVIEW, "prompt": "  a boat  "})
    assert response.status_code == 201
    job = response.json()
    assert SEED_FIELDS <= job.keys()
    assert job["status"] == "pending" and job["prompt"] == "a boat"
    assert (job["num_inference_steps"], job["num_frames"], job["fps"]) == (30, 49, 16)
    assert job["seed"] == 1024 and job["num_gpus"] == 1
    assert isinstance(job["created_at"], float) and job["started_at"] is None
    assert server.job(job["id"]) == job


def test_full_lifecycle_through_every_endpoint(server: Server) -> None:
    job = server.create(num_inference_steps=4, num_frames=9)
    job_id = job["id"]
    assert server.client.get(f"/api/jobs/{job_id}/video").status_code == 404
    assert server.client.get(f"/api/jobs/{job_id}/video").json()["detail"]
    started = server.client.post(f"/api/jobs/{job_id}/start")
    assert started.status_code == 200 and started.json()["status"] in ("queued", "running", "completed")
    done = server.wait_status(job_id, "completed")
    assert done["progress"] == 100.0 and done["phase"] == "done" and done["progress_msg"] == "4/4 steps"
    assert done["started_at"] >= done["created_at"] and done["finished_at"] >= done["started_at"]
    assert done["output_path"].endswith(f"{job_id}.mp4")

    video = server.client.get(f"/api/jobs/{job_id}/video")
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert video.content[4:8] == b"ftyp"
    poster = server.client.get(f"/api/jobs/{job_id}/poster")
    assert poster.status_code == 200 and poster.content[:2] == b"\xff\xd8"

    logs = server.client.get(f"/api/jobs/{job_id}/logs").json()
    assert set(logs) >= {"lines", "total", "progress", "progress_msg", "phase"}
    assert logs["total"] == len(logs["lines"]) > 3
    assert any("not a model" in line for line in logs["lines"])
    tail = server.client.get(f"/api/jobs/{job_id}/logs", params={"after": logs["total"] - 2}).json()
    assert tail["lines"] == logs["lines"][-2:] and tail["total"] == logs["total"]
    download = server.client.get(f"/api/jobs/{job_id}/download_log")
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    assert download.text.splitlines() == logs["lines"]

    assert [j["id"] for j in server.client.get("/api/jobs").json()] == [job_id]
    deleted = server.client.delete(f"/api/jobs/{job_id}")
    assert deleted.status_code == 200 and deleted.json() == {"detail": f"Job {job_id} deleted"}
    assert server.client.get(f"/api/jobs/{job_id}").status_code == 404
    assert server.client.get("/api/jobs").json() == []
    outputs = server.data_dir / "outputs"
    assert not any(outputs.iterdir()) and not (server.data_dir / "logs" / f"{job_id}.log").exists()


def test_range_and_head_on_video(server: Server) -> None:
    job = server.create(start=True, num_frames=25, height=128, width=128)
    server.wait_status(job["id"], "completed")
    url = f"/api/jobs/{job['id']}/video"
    full = server.client.get(url).content
    head = server.client.head(url)
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(full)
    assert head.headers["accept-ranges"] == "bytes" and head.content == b""
    part = server.client.get(url, headers={"Range": "bytes=10-99"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 10-99/{len(full)}"
    assert part.content == full[10:100]
    tail = server.client.get(url, headers={"Range": f"bytes={len(full) - 5}-"})
    assert tail.status_code == 206 and tail.content == full[-5:]
    assert server.client.head(f"/api/jobs/{uuid.uuid4()}/video").status_code == 404


BAD_BODIES = [
    ({"num_frames": -1}, "num_frames"),
    ({"height": 7}, "height"),
    ({"width": 100}, "width"),
    ({"num_inference_steps": 0}, "num_inference_steps"),
    ({"prompt": ""}, "prompt"),
    ({"prompt": "   "}, "prompt"),
    ({"model_id": "no/such-model"}, "model_id"),
    ({"model_id": "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"}, "model_id"),
    ({"num_gpus": 2}, "num_gpus"),
    ({"num_gpus": 999}, "num_gpus"),
    ({"num_gpus": 0}, "num_gpus"),
    ({"seed": -5}, "seed"),
    ({"guidance_scale": -1}, "guidance_scale"),
    ({"num_inference_steps": 10001}, "num_inference_steps"),
    ({"height": 4096}, "height"),
    ({"fps": 0}, "fps"),
    ({"num_frames": "many"}, "num_frames"),
    ({"dit_cpu_offload": True}, "dit_cpu_offload"),  # FastVideo ignores it under layerwise offload (the default)
    ({"use_fsdp_inference": True, "dit_layerwise_offload": True}, "use_fsdp_inference"),
]


@pytest.mark.parametrize("change,field", BAD_BODIES, ids=[f for _, f in BAD_BODIES])
def test_bad_input_is_422_naming_the_field(server: Server, change: dict, field: str) -> None:
    body = {"model_id": PREVIEW, "prompt": "a cat"} | change
    response = server.client.post("/api/jobs", json=body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert any(error["loc"][-1] == field for error in detail), detail
    assert all(error["msg"] for error in detail)
    assert server.client.get("/api/jobs").json() == []


def test_a_validators_message_is_the_rule_alone(server: Server) -> None:
    """Pydantic prefixes a validator's message with "Value error, "; the 422 keeps its shape without it."""
    detail = server.client.post("/api/jobs", json={"model_id": PREVIEW, "prompt": "   "}).json()["detail"]
    assert [(error["type"], error["loc"], error["msg"]) for error in detail] == [
        ("value_error", ["body", "prompt"], "must not be empty")]
    job = server.create(start=True, **LONG)
    both = server.client.post(f"/api/jobs/{job['id']}/move", json={"to": "top", "before": job["id"]})
    assert both.status_code == 422
    assert both.json()["detail"][0]["msg"].startswith("give exactly one of"), both.json()


def test_a_misspelt_field_is_refused_and_named_not_ignored(server: Server) -> None:
    # It used to be dropped: the job ran with the model's default 30 steps and no negative prompt.
    asked = {"model_id": PREVIEW, "prompt": "a fox", "num_inference_step": 5, "negative": "blurry", "stepz": 1}
    response = server.client.post("/api/jobs", json=asked)
    assert response.status_code == 422
    said = {error["loc"][1]: error["msg"] for error in response.json()["detail"]}
    assert said["num_inference_step"] == "unknown field; did you mean num_inference_steps?"
    assert said["negative"] == "unknown field; did you mean negative_prompt?"
    assert said["stepz"].startswith("unknown field; the fields are model_id, prompt,")
    assert server.client.get("/api/jobs").json() == []  # nothing was created
    moved = server.client.post(f"/api/jobs/{server.create()['id']}/move", json={"to": "top", "where": "x"})
    assert moved.status_code == 422 and moved.json()["detail"][0]["loc"] == ["body", "where"]


def test_a_missing_video_says_why(server: Server) -> None:
    def why(job: dict, what: str = "video") -> str:
        response = server.client.get(f"/api/jobs/{job['id']}/{what}")
        assert response.status_code == 404, response.text
        assert server.client.head(f"/api/jobs/{job['id']}/{what}").status_code == 404
        return response.json()["detail"]

    pending = server.create(prompt="never started")
    running = server.create(start=True, **LONG)
    queued = server.create(start=True, prompt="waits its turn", **LONG)
    server.wait_status(running["id"], "running")
    assert why(pending) == f"job {pending['id']} has not been started: it has no video yet"
    assert why(queued) == f"job {queued['id']} is queued: it has no video yet"
    assert why(running) == f"job {running['id']} is still running: it has no video yet"
    server.client.post(f"/api/jobs/{running['id']}/stop")
    server.wait_status(running["id"], "stopped")
    assert why(running) == f"job {running['id']} was stopped before it made a video"
    assert why(running, "poster") == f"job {running['id']} was stopped before it made a poster"
    server.wait_status(queued["id"], "running")
    os.kill(server.worker_pids()[0], signal.SIGKILL)
    failed = server.wait_status(queued["id"], "failed")
    assert why(queued) == f"job {queued['id']} failed before it made a video: {failed['error']}"
    done = server.create(start=True)
    Path(server.wait_status(done["id"], "completed")["output_path"]).unlink()
    assert why(done) == f"job {done['id']} completed, but its video is no longer in the output directory"


def test_missing_fields_and_broken_json(server: Server) -> None:
    response = server.client.post("/api/jobs", json={})
    assert {e["loc"][-1] for e in response.json()["detail"]} == {"model_id", "prompt"}
    broken = server.client.post("/api/jobs", content=b"{not json", headers={"content-type": "application/json"})
    assert broken.status_code == 422


def test_unknown_and_malformed_ids_are_404(server: Server) -> None:
    for job_id in (str(uuid.uuid4()), "not-a-uuid", "..%2F..%2Fetc%2Fpasswd"):
        assert server.client.get(f"/api/jobs/{job_id}").status_code == 404
        assert server.client.post(f"/api/jobs/{job_id}/start").status_code == 404
        assert server.client.post(f"/api/jobs/{job_id}/stop").status_code == 404
        assert server.client.delete(f"/api/jobs/{job_id}").status_code == 404
        assert server.client.get(f"/api/jobs/{job_id}/logs").status_code == 404
        assert server.client.get(f"/api/jobs/{job_id}/download_log").status_code == 404


def _conflict(server: Server, job_id: str, action: str) -> str:
    response = server.client.post(f"/api/jobs/{job_id}/{action}")
    assert response.status_code == 409, response.text
    return response.json()["detail"]


def test_illegal_transitions_are_409_with_a_reason(server: Server) -> None:
    pending = server.create()
    assert "only queued or running" in _conflict(server, pending["id"], "stop")

    completed = server.create(start=True)
    server.wait_status(completed["id"], "completed")
    assert "duplicate" in _conflict(server, completed["id"], "start")
    assert "completed" in _conflict(server, completed["id"], "stop")

    running = server.create(start=True, **LONG)
    server.wait_status(running["id"], "running")
    assert "already running" in _conflict(server, running["id"], "start")
    queued = server.create(start=True)
    assert server.job(queued["id"])["status"] == "queued"
    assert "already queued" in _conflict(server, queued["id"], "start")

    stopped = server.client.post(f"/api/jobs/{queued['id']}/stop").json()
    assert stopped["status"] == "stopped"
    assert "stopped" in _conflict(server, queued["id"], "stop")
    server.client.post(f"/api/jobs/{running['id']}/stop")
    server.wait_status(running["id"], "stopped")
    # stopped and failed jobs may run again, as in the seed
    again = server.client.post(f"/api/jobs/{queued['id']}/start")
    assert again.status_code == 200 and again.json()["status"] in ("queued", "running")
    assert server.wait_status(queued["id"], "completed")["attempts"] == 1


def test_list_paging_and_status_filter(server: Server) -> None:
    ids = [server.create(prompt=f"job {i}")["id"] for i in range(7)]
    newest_first = list(reversed(ids))
    assert [j["id"] for j in server.client.get("/api/jobs").json()] == newest_first
    page = server.client.get("/api/jobs", params={"limit": 3})
    assert [j["id"] for j in page.json()] == newest_first[:3]
    assert page.headers["x-next-before"] == newest_first[2] and 'rel="next"' in page.headers["link"]
    seen = []
    cursor = None
    while True:
        params = {"limit": 3} | ({"before": cursor} if cursor else {})
        response = server.client.get("/api/jobs", params=params)
        seen += [j["id"] for j in response.json()]
        cursor = response.headers.get("x-next-before")
        if not cursor:
            break
    assert seen == newest_first
    server.client.post(f"/api/jobs/{ids[0]}/start")
    server.wait_status(ids[0], "completed")
    assert [j["id"] for j in server.client.get("/api/jobs", params={"status": "completed"}).json()] == [ids[0]]
    both = server.client.get("/api/jobs", params={"status": "completed,pending"}).json()
    assert len(both) == 7
    bad = server.client.get("/api/jobs", params={"status": "done"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "status"
    assert server.client.get("/api/jobs", params={"limit": 0}).status_code == 422
    assert server.client.get("/api/jobs", params={"before": str(uuid.uuid4())}).status_code == 422


def test_list_search_total_and_actions(server: Server) -> None:
    fox = server.create(prompt="A Red FOX at 100% speed")
    server.create(prompt="a blue whale")
    server.create(prompt="snake_case and 100 percent")
    found = server.client.get("/api/jobs", params={"q": "red fox"})
    assert [j["id"] for j in found.json()] == [fox["id"]] and found.headers["x-total-count"] == "1"
    # % and _ are literal characters, not SQL wildcards
    assert [j["prompt"] for j in server.client.get("/api/jobs", params={"q": "100%"}).json()] == [fox["prompt"]]
    assert len(server.client.get("/api/jobs", params={"q": "e_c"}).json()) == 1
    page = server.client.get("/api/jobs", params={"limit": 1})
    assert len(page.json()) == 1 and page.headers["x-total-count"] == "3"
    assert fox["actions"] == ["start"]
    started = server.client.post(f"/api/jobs/{fox['id']}/start").json()
    assert started["actions"] == ["stop"]
    assert server.wait_status(fox["id"], "completed")["actions"] == []


def test_queue_positions(server: Server) -> None:
    first = server.create(start=True, **LONG)
    server.wait_status(first["id"], "running")
    second = server.create(start=True)
    third = server.create(start=True)
    assert server.job(second["id"])["queue_position"] == 1
    assert server.job(third["id"])["queue_position"] == 2
    server.client.post(f"/api/jobs/{second['id']}/stop")
    assert server.job(third["id"])["queue_position"] == 1
    assert server.job(first["id"])["queue_position"] is None
    server.client.post(f"/api/jobs/{first['id']}/stop")


def test_health(server: Server) -> None:
    health = server.health()
    assert health["status"] == "ok"
    assert health["devices"]["cpu_slots"] == ["cpu0"] and health["devices"]["gpus"] == []
    assert health["devices"]["gpu_reason"]


def _read_events(server: Server, count: int, headers: dict | None = None, params: dict | None = None,
                 sink: list[dict] | None = None, until: str | None = None) -> list[dict]:
    events: list[dict] = [] if sink is None else sink
    current: dict = {}
    with server.client.stream("GET", "/api/events", headers=headers, params=params, timeout=30) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("id: "):
                current["id"] = line[4:]
            elif line.startswith("event: "):
                current["event"] = line[7:]
            elif line.startswith("data: "):
                current["data"] = json.loads(line[6:])
            elif line == "" and current:
                events.append(current)
                if len(events) >= count or current.get("event") == until:
                    break
                current = {}
    return events


def test_events_stream_and_resume(server: Server) -> None:
    job = server.create(start=True, num_inference_steps=5)
    server.wait_status(job["id"], "completed")
    # Replay from the first event of this boot: nothing is missed.
    first = _read_events(server, 1, params={"since": "x-0"})  # unknown boot: a reset
    assert first[0]["event"] == "reset"
    boot = first[0]["id"].rsplit("-", 1)[0]
    events = _read_events(server, 6, headers={"Last-Event-ID": f"{boot}-0"})
    kinds = [e["event"] for e in events]
    assert kinds[0] == "created" and events[0]["data"]["id"] == job["id"]
    assert "progress" in kinds or "updated" in kinds
    seqs = [int(e["id"].rsplit("-", 1)[1]) for e in events]
    assert seqs == sorted(seqs) and seqs[0] == 1
    # resume after the third event: the next one is the fourth
    resumed = _read_events(server, 1, headers={"Last-Event-ID": events[2]["id"]})
    assert resumed[0]["id"] == events[3]["id"]


def test_events_push_live_progress_and_deletion(server: Server) -> None:
    import threading

    collected: list[dict] = []

    def listen() -> None:
        _read_events(server, 100_000, sink=collected, until="deleted")

    # a live listener, then a job
    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    wait_for(lambda: server.health()["event_subscribers"] == 1, what="the SSE subscriber")
    job = server.create(start=True, num_inference_steps=20, height=256, width=256, num_frames=17)
    server.wait_status(job["id"], "completed")
    server.client.delete(f"/api/jobs/{job['id']}")
    thread.join(10)
    assert collected[-1]["event"] == "deleted" and collected[-1]["data"] == {"id": job["id"]}
    progress = [e["data"] for e in collected if e["event"] == "progress" and e["data"].get("step")]
    assert progress and progress[-1]["step"] == 20 and progress[-1]["total_steps"] == 20
    assert [p["step"] for p in progress] == sorted(p["step"] for p in progress)
    statuses = [e["data"]["status"] for e in collected if e["event"] == "updated"]
    assert statuses[-1] == "completed" and "running" in statuses


def test_no_cors_by_default_and_allowed_origin_on_request(start_server) -> None:
    closed = start_server()
    origin = "http://localhost:3000"
    response = closed.client.get("/api/jobs", headers={"Origin": origin})
    assert "access-control-allow-origin" not in response.headers
    opened = start_server("--cors-origin", origin)
    response = opened.client.get("/api/jobs", headers={"Origin": origin})
    assert response.headers["access-control-allow-origin"] == origin
    preflight = opened.client.options("/api/jobs", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 200
    other = opened.client.get("/api/jobs", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in other.headers


@pytest.mark.slow
def test_server_cli_flags_match(tmp_path) -> None:
    import subprocess
    import sys

    serve_help = subprocess.run([sys.executable, "-m", "fastvideo_ui", "serve", "--help"],
                                capture_output=True, text=True, check=True).stdout
    module_help = subprocess.run([sys.executable, "-m", "fastvideo_ui.server", "--help"],
                                 capture_output=True, text=True, check=True).stdout
    for flag in ("--host", "--port", "--output-dir", "--log-dir", "--data-dir", "--gpus", "--cpu-slots",
                 "--stop-grace", "--cors-origin", "--verbose"):
        assert flag in serve_help and flag in module_help


def test_output_and_log_dirs_are_honoured(start_server, tmp_path) -> None:
    out, logs = tmp_path / "videos", tmp_path / "joblogs"
    server = start_server("--output-dir", str(out), "--log-dir", str(logs))
    job = server.create(start=True)
    done = server.wait_status(job["id"], "completed")
    assert done["output_path"] == str(out / f"{job['id']}.mp4") and (out / f"{job['id']}.mp4").is_file()
    assert done["log_file_path"] == str(logs / f"{job['id']}.log") and (logs / f"{job['id']}.log").is_file()


def test_server_never_imports_torch(start_server: Callable[..., Server]) -> None:
    import psutil

    server = start_server()
    maps = open(f"/proc/{server.proc.pid}/maps").read()
    assert "torch" not in maps and "fastvideo/" not in maps
    assert psutil.Process(server.proc.pid).is_running()
    _ = httpx  # the client is httpx


@pytest.mark.parametrize("field,raw", [
    ("guidance_scale", b'"guidance_scale": NaN'),
    ("guidance_scale", b'"guidance_scale": -Infinity'),
    ("guidance_scale", b'"guidance_scale": 1e309'),
    ("seed", b'"seed": Infinity'),
    ("prompt", b'"prompt": "a fox \\ud800"'),
    ("negative_prompt", b'"negative_prompt": "\\udfff"'),
])
def test_what_json_cannot_carry_back_is_a_422_not_a_500(server: Server, field: str, raw: bytes,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    body = b'{"model_id": "fastvideo-ui/preview", ' + (b"" if field == "prompt" else b'"prompt": "p", ') + raw + b"}"
    response = server.client.post("/api/jobs", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert [error["loc"] for error in response.json()["detail"]] == [["body", field]]
    session = server.client.post("/api/session", content=b'{"token": NaN}',
                                 headers={"content-type": "application/json"})
    assert session.status_code == 422 and session.json()["detail"][0]["input"] == "NaN"
    # The server (in this process) logged no error. The health request is a
    # barrier: on one connection, uvicorn logs a request's failure before it
    # reads the next request.
    assert server.client.get("/api/health").status_code == 200
    assert [record for record in caplog.records if record.levelno >= logging.ERROR or record.exc_info] == []


def test_a_wrong_method_is_405_with_allow(server: Server) -> None:
    job = server.create()
    for method, path, allow in (("PUT", "/api/jobs", "GET, POST"), ("PATCH", f"/api/jobs/{job['id']}", "DELETE, GET"),
                                ("GET", f"/api/jobs/{job['id']}/stop", "POST")):
        response = server.client.request(method, path)
        assert response.status_code == 405 and response.headers["allow"] == allow, (method, path, response.text)
    assert server.client.put("/api/no-such-thing").status_code == 404


def test_query_errors_name_the_parameter_and_a_nul_is_just_text(server: Server) -> None:
    response = server.client.get("/api/jobs", params={"limit": "many"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "limit"]
    found = server.client.get("/api/jobs", params={"q": "a\x00b"})
    assert found.status_code == 200 and found.json() == []


def test_a_listed_job_is_the_job_itself(server: Server) -> None:
    # The list is read as raw database tuples (booleans come back 0 and 1) and
    # a single job through the ORM: both give the same JSON, in every state.
    done = server.create(start=True)
    server.wait_status(done["id"], "completed")
    running = server.create(start=True, **LONG)
    server.wait_status(running["id"], "running")
    queued = server.create(start=True)
    pending = server.create(text_encoder_cpu_offload=False)
    listed = {job["id"]: job for job in server.client.get("/api/jobs").json()}
    paged = {job["id"]: job for job in server.client.get("/api/jobs", params={"limit": 10}).json()}
    # The running job steps between the three reads: its progress fields may differ.
    moving = {"step", "total_steps", "progress", "progress_msg", "eta_seconds", "phase"}
    for job in (done, running, queued, pending):
        skip = moving if job is running else set()
        views = [{k: v for k, v in view.items() if k not in skip}
                 for view in (listed[job["id"]], paged[job["id"]], server.job(job["id"]))]
        assert views[0] == views[1] == views[2]
    assert listed[queued["id"]]["queue_position"] == 1 and listed[running["id"]]["devices"]
    assert listed[pending["id"]]["text_encoder_cpu_offload"] is False
    assert listed[pending["id"]]["vae_cpu_offload"] is True
    server.client.post(f"/api/jobs/{running['id']}/stop")


def test_a_stored_lone_surrogate_still_lists_as_json() -> None:
    from fastvideo_ui.api.streaming import encode

    # Only a row stored before the API refused them can hold one; orjson
    # refuses it, and the list must still answer.
    assert json.loads(encode([{"prompt": "a \ud800 fox"}])) == [{"prompt": "a \ud800 fox"}]


@pytest.mark.slow
def test_everything_without_a_limit_streams_page_by_page(server: Server) -> None:
    from fastvideo_ui.api.streaming import JOB_CHUNK, LOG_CHUNK

    # More jobs than one page, and a log of more lines than one chunk: the
    # whole answer, in order, exactly as the paged calls give it.
    created = [server.create(prompt=f"job {i}")["id"] for i in range(JOB_CHUNK + 30)]
    everything = server.client.get("/api/jobs")
    assert everything.status_code == 200 and everything.headers["x-total-count"] == str(len(created))
    assert [job["id"] for job in everything.json()] == created[::-1]
    paged, before = [], None
    while True:
        page = server.client.get("/api/jobs", params={"limit": 1000, **({"before": before} if before else {})})
        paged += page.json()
        before = page.headers.get("x-next-before")
        if not before:
            break
    assert everything.json() == paged
    assert server.client.get("/api/jobs", params={"status": "running"}).json() == []

    log = server.data_dir / "logs" / f"{created[0]}.log"
    with open(log, "a") as handle:
        handle.writelines(f"line {i}\n" for i in range(LOG_CHUNK * 2 + 7))
    whole = server.client.get(f"/api/jobs/{created[0]}/logs", params={"after": 5}).json()
    total = len(log.read_text().splitlines())
    assert whole["total"] == total and whole["next_after"] == total and len(whole["lines"]) == total - 5
    assert whole["lines"][-1] == f"line {LOG_CHUNK * 2 + 6}"
    assert set(whole) == {"lines", "total", "next_after", "progress", "progress_msg", "phase"}
    # A limit past one chunk streams too, and stops at the limit.
    paged_log = server.client.get(f"/api/jobs/{created[0]}/logs", params={"after": 5, "limit": LOG_CHUNK + 5}).json()
    assert paged_log["lines"] == whole["lines"][:LOG_CHUNK + 5]
    assert paged_log["next_after"] == 5 + LOG_CHUNK + 5 and paged_log["total"] == total
    assert server.client.get(f"/api/jobs/{created[0]}/logs", params={"after": total + 3}).json()["lines"] == []


# FastVideo echoes the prompt into the output the server reads progress from:
# after this "\r", the bar showed the job at 95%, 19/20 steps, before it ran.
FAKE_BAR = "a fox\r 95%|#| 19/20 [00:01<00:00, 1.00it/s]"
FAKE_STAGE = "blur\n[decoding_stage] Starting execution"  # FastVideo adds its log head


def test_a_prompt_is_one_line_so_it_cannot_fake_its_jobs_progress(server: Server) -> None:
    source = server.create()
    for field, text, position in (("prompt", FAKE_BAR, 6), ("negative_prompt", FAKE_STAGE, 5),
                                  ("prompt", "a fox \u2028 at dawn", 7), ("prompt", "\x1b[2Ja fox", 1)):
        refused = server.client.post("/api/jobs", json={"model_id": PREVIEW, "prompt": "a fox", field: text})
        assert refused.status_code == 422, refused.text
        [error] = refused.json()["detail"]
        assert error["loc"] == ["body", field], error
        assert "control characters" in error["msg"] and f"at character {position};" in error["msg"], error
        openai = server.client.post("/v1/videos", json={"model": PREVIEW, "prompt": "a fox", field: text})
        assert openai.status_code == 400 and openai.json()["error"]["param"] == field, openai.text
    remix = server.client.post(f"/v1/videos/{source['id']}/remix", json={"prompt": FAKE_BAR})
    assert remix.status_code == 400 and remix.json()["error"]["param"] == "prompt", remix.text
    assert [job["id"] for job in server.client.get("/api/jobs").json()] == [source["id"]]
    # A tab is only a wide space.
    tabbed = server.create(prompt="a fox\tin the snow")
    assert tabbed["prompt"] == "a fox\tin the snow"


def test_a_stored_prompt_with_control_characters_still_lists(server: Server) -> None:
    # Only a row stored before the rule can hold one: every view still answers.
    import sqlite3

    job = server.create()
    with sqlite3.connect(server.data_dir / "jobs.sqlite3") as db:
        db.execute("UPDATE jobs SET prompt = ?, negative_prompt = ? WHERE id = ?", (FAKE_BAR, FAKE_STAGE, job["id"]))
    assert server.job(job["id"])["prompt"] == FAKE_BAR
    assert [listed["prompt"] for listed in server.client.get("/api/jobs").json()] == [FAKE_BAR]
    assert server.client.get("/v1/videos").json()["data"][0]["prompt"] == FAKE_BAR
    assert server.client.post(f"/v1/videos/{job['id']}/remix", json={"prompt": "a fox"}).status_code == 200
