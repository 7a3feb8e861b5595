"""The API token, the login cookie, and the refusal to listen openly without one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from conftest import LONG, Server, free_port, wait_for, worker_processes
from fastvideo_ui.api.auth import Credentials, FailedAttempts
from fastvideo_ui.config import is_loopback

TOKEN = "s3cret-token-for-tests-0123456789"
WEBHOOK_SECRET = "webhook-s3cret-for-tests-0123456789"


def authed(server: Server) -> Server:
    server.client.headers["Authorization"] = f"Bearer {TOKEN}"
    return server


def run_server(*args: str, env: dict[str, str] | None = None, tmp_path: Path) -> tuple[int | None, str, str]:
    """Start the server: (its exit status, or None while it still serves once
    /api/health answers; stdout; stderr). A refusal exits at once."""
    port = free_port()
    command = [sys.executable, "-m", "fastvideo_ui.server", "--port", str(port),
               "--data-dir", str(tmp_path / "data"), *args]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FASTVIDEO_UI_")}
    full_env.update(env or {})
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env)

    def answered_or_exited() -> bool:
        if proc.poll() is not None:
            return True
        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/health").status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(answered_or_exited, timeout=30, what="the server to serve or exit")
    status = proc.poll()
    if status is None:
        proc.terminate()
    stdout, stderr = proc.communicate(timeout=20)
    return status, stdout, stderr


# -- refusing to listen openly ---------------------------------------------------

def test_a_non_loopback_bind_without_a_token_refuses_to_start(tmp_path: Path) -> None:
    status, stdout, message = run_server("--host", "0.0.0.0", tmp_path=tmp_path)
    assert status == 1, (status, stdout, message)
    assert "refusing to listen on 0.0.0.0 without an API token" in message
    assert "FASTVIDEO_UI_API_TOKEN" in message and "--api-token-file" in message
    assert "--insecure-no-auth" in message


@pytest.mark.parametrize("how", ["insecure", "env", "file"])
def test_a_non_loopback_bind_starts_with_a_token_or_the_override(tmp_path: Path, how: str) -> None:
    args = ["--host", "0.0.0.0"]
    env = {}
    if how == "insecure":
        args.append("--insecure-no-auth")
    elif how == "env":
        env["FASTVIDEO_UI_API_TOKEN"] = TOKEN
    else:
        token_file = tmp_path / "token"
        token_file.write_text(TOKEN + "\n")
        args += ["--api-token-file", str(token_file)]
    status, stdout, stderr = run_server(*args, env=env, tmp_path=tmp_path)
    assert status is None, (status, stderr)  # serving
    assert "fastvideo-ui on http://0.0.0.0:" in stdout


def test_a_short_token_is_refused_with_advice(tmp_path: Path) -> None:
    status, _, stderr = run_server("--api-token", "short", tmp_path=tmp_path)
    assert status == 1
    assert "at least 16 characters" in stderr and "secrets.token_urlsafe" in stderr


# -- the token ---------------------------------------------------------------------

@pytest.fixture
def locked(start_server: Callable[..., Server]) -> Server:
    return start_server("--verbose", env={"FASTVIDEO_UI_API_TOKEN": TOKEN,
                                          "FASTVIDEO_UI_WEBHOOK_SECRET": WEBHOOK_SECRET})


def every_api_request(server: Server, job_id: str) -> list[tuple[str, str]]:
    """One request per operation in the server's own OpenAPI schema."""
    schema = httpx.get(server.url + "/openapi.json").json()
    requests = []
    for path, operations in schema["paths"].items():
        for method in operations:
            requests.append((method.upper(), path.replace("{job_id}", job_id)))
    assert len(requests) >= 15
    return requests


def test_every_api_route_but_health_and_login_needs_the_token(locked: Server) -> None:
    job_id = authed(locked).create()["id"]
    anonymous = httpx.Client(base_url=locked.url, timeout=10)
    wrong = httpx.Client(base_url=locked.url, timeout=10, headers={"Authorization": f"Bearer {TOKEN}x"})
    public = {"/api/health", "/api/session"}
    wrong_tries = 0
    for method, path in every_api_request(locked, job_id) + [("GET", "/api/nowhere")]:
        # A wrong token counts against this address (10 a minute): try it on a few routes only.
        clients = [anonymous] + ([wrong] if path not in public and wrong_tries < 8 else [])
        wrong_tries += len(clients) - 1
        for client in clients:
            if path == "/api/events" and path not in public:
                with client.stream(method, path) as response:
                    status = response.status_code
            else:
                response = client.request(method, path)
                status = response.status_code
            if path in public:
                assert status != 401, (method, path)
            else:
                assert status == 401, (method, path, status)
                assert response.headers["www-authenticate"].startswith("Bearer")
    assert locked.job(job_id)["status"] == "pending"  # no anonymous start/stop/delete took effect
    assert anonymous.get("/api/health").json() == {"status": "ok", "version": locked.health()["version"]}
    assert "workers" in locked.health()  # the details only with the token
    assert anonymous.get("/").status_code == 200  # the page itself is public; it asks to sign in


def test_the_login_cookie_serves_video_and_events_and_never_holds_the_token(locked: Server) -> None:
    job = authed(locked).create(start=True)
    locked.wait_status(job["id"], "completed")
    browser = httpx.Client(base_url=locked.url, timeout=10)
    assert browser.get("/api/session").json() == {"auth_required": True, "authenticated": False}
    assert browser.post("/api/session", json={"token": "wrong" * 5}).status_code == 401
    response = browser.post("/api/session", json={"token": TOKEN})
    assert response.status_code == 200, response.text
    set_cookie = response.headers["set-cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie and "Max-Age=" in set_cookie
    assert TOKEN not in set_cookie
    assert browser.get("/api/session").json()["authenticated"] is True
    assert browser.get(f"/api/jobs/{job['id']}/video", headers={"Range": "bytes=0-99"}).status_code == 206
    with browser.stream("GET", "/api/events") as events:
        assert events.status_code == 200
        assert next(events.iter_bytes()).startswith(b"retry:")
    # A tampered cookie is no session.
    cookie = browser.cookies["fastvideo_ui_session"]
    flipped = cookie[:-1] + ("1" if cookie.endswith("0") else "0")
    tampered = httpx.Client(base_url=locked.url, cookies={"fastvideo_ui_session": flipped})
    assert tampered.get("/api/jobs").status_code == 401
    # Logging out forgets the cookie.
    browser.delete("/api/session")
    assert browser.get("/api/jobs").status_code == 401


def test_a_session_outlives_a_restart_but_not_a_new_token(start_server: Callable[..., Server],
                                                          tmp_path: Path) -> None:
    first = start_server(env={"FASTVIDEO_UI_API_TOKEN": TOKEN}, data_dir=tmp_path / "shared")
    cookie = httpx.post(first.url + "/api/session", json={"token": TOKEN}).cookies["fastvideo_ui_session"]
    first.terminate()
    again = start_server(env={"FASTVIDEO_UI_API_TOKEN": TOKEN}, data_dir=tmp_path / "shared")
    assert httpx.get(again.url + "/api/jobs", cookies={"fastvideo_ui_session": cookie}).status_code == 200
    again.terminate()
    rotated = start_server(env={"FASTVIDEO_UI_API_TOKEN": TOKEN + "-rotated"}, data_dir=tmp_path / "shared")
    assert httpx.get(rotated.url + "/api/jobs", cookies={"fastvideo_ui_session": cookie}).status_code == 401


def test_the_token_and_webhook_secret_appear_in_no_log_file_database_or_worker(locked: Server) -> None:
    authed(locked)
    job = locked.create(start=True, prompt="a prompt that mentions nothing secret")
    locked.wait_status(job["id"], "completed")
    long_job = locked.create(start=True, **LONG)
    locked.wait_status(long_job["id"], "running")
    httpx.get(locked.url + "/api/jobs", headers={"Authorization": f"Bearer {TOKEN}-wrong"})
    httpx.post(locked.url + "/api/session", json={"token": TOKEN})
    httpx.post(locked.url + "/api/session", json={"token": TOKEN + "-wrong"})
    ours = [w for w in worker_processes() if w.parents() and w.parents()[0].pid == locked.proc.pid]
    assert ours, "no worker of this server to inspect"
    for worker in ours:
        environ = worker.environ()
        for secret in (TOKEN, WEBHOOK_SECRET):
            assert all(secret not in value for value in environ.values()), [k for k, v in environ.items()
                                                                             if secret in v]
    locked.client.post(f"/api/jobs/{long_job['id']}/stop")
    locked.terminate()  # flushes every log
    checked = 0
    for path in locked.data_dir.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), f"the token is in {path}"
            assert WEBHOOK_SECRET.encode() not in path.read_bytes(), f"the webhook secret is in {path}"
            checked += 1
    assert checked >= 4  # server output, the database, two job logs (at least)
    assert "GET /api/jobs" in locked.output.read_text()  # --verbose logs requests: the check saw them


def test_wrong_tokens_lock_the_address_out_for_a_while(locked: Server) -> None:
    wrong = httpx.Client(base_url=locked.url, headers={"Authorization": f"Bearer {TOKEN}-guess"})
    anonymous = httpx.Client(base_url=locked.url)
    assert [wrong.get("/api/jobs").status_code for _ in range(5)] == [401] * 5
    assert [anonymous.post("/api/session", json={"token": f"guess-{i}"}).status_code for i in range(5)] == [401] * 5
    refused = wrong.get("/api/jobs")
    assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 60
    assert "Too many wrong tokens" in refused.json()["detail"]
    # The right credentials are never refused: the owner is not locked out by a guesser.
    assert authed(locked).client.get("/api/jobs").status_code == 200
    assert anonymous.post("/api/session", json={"token": TOKEN}).status_code == 200
    # No credentials at all is not an attempt: the page and health still answer.
    assert anonymous.get("/api/health").status_code == 200 and anonymous.get("/").status_code == 200


def test_a_forwarded_address_does_not_reset_the_lock_out(locked: Server) -> None:
    # uvicorn believed X-Forwarded-For from loopback: a new address per guess, no lock-out.
    statuses = [httpx.get(f"{locked.url}/api/jobs", headers={
        "Authorization": f"Bearer guess-{i}-0123456789abcdef", "X-Forwarded-For": f"203.0.113.{i}"}).status_code
        for i in range(12)]
    assert statuses == [401] * 10 + [429] * 2


# -- pure logic ----------------------------------------------------------------------

def test_session_cookies_expire_and_are_bound_to_the_token() -> None:
    credentials = Credentials(TOKEN)
    now = time.time()
    cookie = credentials.new_session(now)
    assert credentials.session_valid(cookie, now + 60)
    assert not credentials.session_valid(cookie, now + 31 * 24 * 3600)
    assert not Credentials(TOKEN + "x").session_valid(cookie, now)
    expires, nonce, signature = cookie.split(".")
    assert not credentials.session_valid(f"{int(expires) + 10**6}.{nonce}.{signature}", now)
    assert not credentials.session_valid("", now) and not credentials.session_valid("a.b.c", now)
    assert credentials.token_matches(TOKEN) and not credentials.token_matches(TOKEN[:-1])


def test_failed_attempts_expire_with_their_window() -> None:
    attempts = FailedAttempts(limit=3, window_s=60)
    for second in (0, 10, 20):
        assert attempts.retry_after("10.0.0.1", second) is None
        attempts.record("10.0.0.1", second)
    assert attempts.retry_after("10.0.0.1", 21) == 39  # until the first failure is a minute old
    assert attempts.retry_after("10.0.0.2", 21) is None  # per address
    assert attempts.retry_after("10.0.0.1", 60.5) is None


@pytest.mark.parametrize("host,loopback", [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("10.1.2.3", False), ("no-such-host.invalid", False),
])
def test_what_counts_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
