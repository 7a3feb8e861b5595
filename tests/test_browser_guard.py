"""What a web page in the user's browser can do to a server on 127.0.0.1:
DNS rebinding (a foreign Host) and cross-site requests that change state."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from conftest import LONG, Server, wait_for
from fastvideo_ui.api.origin import AllowedHosts, host_name


def test_a_foreign_host_is_refused_before_anything_runs(server: Server) -> None:
    job = server.create(prompt="my private prompt")
    evil = {"Host": f"evil.example:{server.port}"}
    listed = server.client.get("/api/jobs", headers=evil)
    assert listed.status_code == 400 and "my private prompt" not in listed.text
    assert "DNS rebinding" in listed.json()["detail"] and "--allowed-host evil.example" in listed.json()["detail"]
    assert server.client.post("/api/jobs", headers=evil, json={"model_id": "fastvideo-ui/preview",
                                                               "prompt": "planted"}).status_code == 400
    assert server.client.delete(f"/api/jobs/{job['id']}", headers=evil).status_code == 400
    assert server.client.get("/", headers=evil).status_code == 400
    assert [j["prompt"] for j in server.client.get("/api/jobs").json()] == ["my private prompt"]
    for host in (f"localhost:{server.port}", f"127.0.0.1:{server.port}", f"[::1]:{server.port}",
                 f"app.localhost:{server.port}"):
        assert server.client.get("/api/jobs", headers={"Host": host}).status_code == 200, host


def test_allowed_host_names_a_name_or_a_domain(start_server: Callable[..., Server]) -> None:
    server = start_server("--allowed-host", "gpu-box.lan", "--allowed-host", "*.corp.example")
    for host, status in (("gpu-box.lan", 200), ("GPU-BOX.LAN:8189", 200), ("a.corp.example", 200),
                         ("corp.example.evil", 400), ("lan", 400)):
        assert server.client.get("/api/health", headers={"Host": host}).status_code == status, host


def test_a_cross_site_request_cannot_stop_a_job(server: Server) -> None:
    job = server.create(start=True, **LONG)
    server.wait_status(job["id"], "running")
    stop = f"/api/jobs/{job['id']}/stop"
    # A no-cors form POST from a page on another port of 127.0.0.1, as Chromium sends it.
    other_port = {"Origin": "http://127.0.0.1:3000", "Sec-Fetch-Site": "same-site", "Content-Type": "text/plain"}
    refused = server.client.post(stop, headers=other_port)
    assert refused.status_code == 403 and "http://127.0.0.1:3000" in refused.json()["detail"]
    assert server.client.post(stop, headers={"Origin": "null"}).status_code == 403
    assert server.client.post(stop, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert server.client.delete(f"/api/jobs/{job['id']}", headers={"Origin": "https://evil.example"}).status_code == 403
    assert server.job(job["id"])["status"] == "running"
    # Its own page, and clients that send no Origin (curl, scripts), may.
    reads = server.client.get(f"/api/jobs/{job['id']}", headers=other_port)
    assert reads.status_code == 200  # reading is harmless: without CORS the page cannot see the answer
    own = {"Origin": server.url, "Sec-Fetch-Site": "same-origin"}
    assert server.client.post(stop, headers=own).status_code == 200
    wait_for(lambda: server.job(job["id"])["status"] == "stopped", what="the stop")


def test_a_cors_origin_may_change_state(start_server: Callable[..., Server]) -> None:
    server = start_server("--cors-origin", "http://localhost:3000")
    body = {"model_id": "fastvideo-ui/preview", "prompt": "from the separate frontend"}
    allowed = server.client.post("/api/jobs", json=body, headers={"Origin": "http://localhost:3000",
                                                                   "Sec-Fetch-Site": "same-site"})
    assert allowed.status_code == 201
    assert server.client.post("/api/jobs", json=body, headers={"Origin": "http://localhost:3001"}).status_code == 403


def test_host_names_and_allowed_hosts() -> None:
    assert host_name("Example.COM:8189") == "example.com" and host_name("[::1]:80") == "::1"
    assert host_name("127.0.0.1") == "127.0.0.1" and host_name("localhost.") == "localhost"
    hosts = AllowedHosts("127.0.0.1", ["box.lan"])
    assert hosts.allows("10.1.2.3:8189") and hosts.allows("[fe80::1]") and hosts.allows("box.lan")
    assert not hosts.allows("rebind.evil.example") and not hosts.allows("localhost.evil.example")


@pytest.mark.slow
def test_a_wildcard_cors_origin_needs_a_token(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "fastvideo_ui.server", "--data-dir", str(tmp_path),
                           "--cors-origin", "*"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "--cors-origin '*'" in done.stderr and "API token" in done.stderr
