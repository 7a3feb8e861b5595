"""Every limit is a clear 413, 422 or 429 that names what was over, and leaves the store as it was."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from conftest import LONG, PREVIEW, Server
from fastvideo_ui.api.limits import MAX_BODY_BYTES
from fastvideo_ui.api.schemas import MAX_PROMPT_CHARS, MAX_SEED


@pytest.mark.parametrize("change,field,rule", [
    ({"prompt": "x" * (MAX_PROMPT_CHARS + 1)}, "prompt", "at most 10000 characters"),
    ({"negative_prompt": "x" * (MAX_PROMPT_CHARS + 1)}, "negative_prompt", "at most 10000 characters"),
    ({"seed": MAX_SEED + 1}, "seed", "less than or equal to 4294967295"),
    ({"seed": -1}, "seed", "greater than or equal to 0"),
    ({"guidance_scale": 1e9}, "guidance_scale", ""),
    ({"num_frames": 100_000}, "num_frames", ""),
    ({"width": 8192}, "width", ""),
])
def test_limits_are_422_naming_the_field_and_rule(server: Server, change: dict, field: str, rule: str) -> None:
    response = server.client.post("/api/jobs", json={"model_id": PREVIEW, "prompt": "a cat"} | change)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert [e["loc"] for e in errors] == [["body", field]]
    assert rule in errors[0]["msg"] and errors[0]["msg"]
    assert server.client.get("/api/jobs").json() == []


def test_a_body_over_the_cap_is_413_whether_declared_or_streamed(server: Server) -> None:
    big = b'{"model_id": "fastvideo-ui/preview", "prompt": "' + b"x" * MAX_BODY_BYTES + b'"}'
    response = server.client.post("/api/jobs", content=big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["detail"] == f"Request body too large: the limit is {MAX_BODY_BYTES} bytes"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server counts as it reads
        for start in range(0, len(big), 16384):
            yield big[start:start + 16384]

    response = server.client.post("/api/jobs", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413, response.text
    assert "too large" in response.json()["detail"]
    assert server.client.get("/api/jobs").json() == []
    assert server.create()["status"] == "pending"  # and the server is fine


def test_the_queue_cap_is_429_and_frees_up(start_server: Callable[..., Server]) -> None:
    server = start_server("--max-queued", "2")
    blocker = server.create(start=True, **LONG)  # holds the one CPU slot, so the queue only fills
    server.wait_status(blocker["id"], "running")
    first = server.create(start=True)
    server.create(start=True)
    response = server.client.post("/api/jobs", json={"model_id": PREVIEW, "prompt": "third", "start": True})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "60"
    assert "queue is full: 2 jobs are already waiting" in response.json()["detail"]
    assert len(server.client.get("/api/jobs").json()) == 3  # a refused create leaves nothing behind

    waiting = server.create()  # pending jobs do not count
    assert server.client.post(f"/api/jobs/{waiting['id']}/start").status_code == 429
    assert server.job(waiting["id"])["status"] == "pending"
    server.client.post(f"/api/jobs/{first['id']}/stop")
    assert server.client.post(f"/api/jobs/{waiting['id']}/start").json()["status"] == "queued"
