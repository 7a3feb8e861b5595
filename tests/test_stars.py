"""Favourites: POST and DELETE /api/jobs/{id}/star, for a job in any status,
the listing's `starred` filter (alone and with a status), and the job event a
change publishes."""

from __future__ import annotations

import json
import uuid
from typing import Any

from conftest import LONG, Server


def _star(server: Server, job_id: str, on: bool = True) -> dict[str, Any]:
    response = (server.client.post if on else server.client.delete)(f"/api/jobs/{job_id}/star")
    assert response.status_code == 200, response.text
    return response.json()


def _listed(server: Server, **params: Any) -> set[str]:
    response = server.client.get("/api/jobs", params=params)
    assert response.status_code == 200, response.text
    ids = {job["id"] for job in response.json()}
    assert int(response.headers["x-total-count"]) == len(ids)
    return ids


def test_a_star_is_set_and_taken_off_in_any_status_and_asking_twice_changes_nothing(server: Server) -> None:
    pending = server.create()
    assert pending["starred"] is False
    starred = _star(server, pending["id"])
    assert starred["starred"] is True and starred["status"] == "pending" and starred["id"] == pending["id"]
    assert _star(server, pending["id"])["starred"] is True  # again: still starred
    assert server.job(pending["id"])["starred"] is True
    assert _star(server, pending["id"], on=False)["starred"] is False
    assert _star(server, pending["id"], on=False)["starred"] is False
    assert server.job(pending["id"])["starred"] is False
    # A running job keeps its star through the run's own writes to its row, to the end.
    running = server.create(start=True, num_inference_steps=1000)
    server.wait_status(running["id"], "running")
    starred = _star(server, running["id"])
    assert starred["starred"] is True and starred["status"] == "running"
    done = server.wait_status(running["id"], "completed")
    assert done["starred"] is True
    # A stopped job can be starred too.
    long = server.create(start=True, **LONG)
    server.wait_status(long["id"], "running")
    server.client.post(f"/api/jobs/{long['id']}/stop")
    server.wait_status(long["id"], "stopped")
    assert _star(server, long["id"])["starred"] is True


def test_the_listing_filters_by_star_alone_and_with_a_status(server: Server) -> None:
    done_starred = server.create(start=True, prompt="done, starred")
    done_plain = server.create(start=True, prompt="done, plain")
    pending_starred = server.create(prompt="pending, starred")
    for job in (done_starred, done_plain):
        server.wait_status(job["id"], "completed")
    _star(server, done_starred["id"])
    _star(server, pending_starred["id"])
    assert _listed(server, starred="true") == {done_starred["id"], pending_starred["id"]}
    assert _listed(server, starred="false") == {done_plain["id"]}
    assert _listed(server, starred="true", status="completed") == {done_starred["id"]}
    assert _listed(server, starred="false", status="pending") == set()
    assert _listed(server) == {done_starred["id"], done_plain["id"], pending_starred["id"]}
    page = server.client.get("/api/jobs", params={"starred": "true", "limit": 1})
    assert len(page.json()) == 1 and page.headers["x-total-count"] == "2"
    bad = server.client.get("/api/jobs", params={"starred": "maybe"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "starred"]
    # OpenAI's listing is not a view of favourites: every job, in OpenAI's shape (no star in it).
    videos = server.client.get("/v1/videos", params={"limit": 10}).json()
    assert {video["id"] for video in videos["data"]} == _listed(server)
    assert all("starred" not in video for video in videos["data"])


def test_an_unknown_job_is_a_404(server: Server) -> None:
    for path in (f"/api/jobs/{uuid.uuid4()}/star", "/api/jobs/not-an-id/star"):
        for method in ("POST", "DELETE"):
            response = server.client.request(method, path)
            assert response.status_code == 404 and response.json() == {"detail": "Job not found"}, (method, path)
    assert server.client.put(f"/api/jobs/{uuid.uuid4()}/star").status_code == 405


def _events(server: Server, after: str, count: int) -> list[tuple[str, dict[str, Any]]]:
    """The first `count` events after the one with id `after` (the bus replays them)."""
    found: list[tuple[str, dict[str, Any]]] = []
    kind = ""
    with server.client.stream("GET", "/api/events", headers={"Last-Event-ID": after}, timeout=30) as response:
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                found.append((kind, json.loads(line[6:])))
                if len(found) == count:
                    break
    return found


def test_a_change_of_star_publishes_the_job_and_no_change_publishes_nothing(server: Server) -> None:
    with server.client.stream("GET", "/api/events", params={"since": "x-0"}, timeout=30) as response:
        reset = next(line for line in response.iter_lines() if line.startswith("id: "))
    boot = reset[4:].rsplit("-", 1)[0]
    job = server.create()  # pending: nothing else happens to it
    _star(server, job["id"])
    _star(server, job["id"])
    _star(server, job["id"], on=False)
    _star(server, job["id"], on=False)
    _star(server, job["id"])
    events = _events(server, f"{boot}-0", 4)
    assert [(kind, data["id"]) for kind, data in events] == [("created", job["id"])] + [("updated", job["id"])] * 3
    assert [data["starred"] for _, data in events] == [False, True, False, True]
