"""The API token, the login cookie, and the refusal to listen openly without one."""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text

from conftest import LONG, InProcessServer, Server, wait_for, worker_processes
from fastvideo_ui.api.auth import FailedAttempts, client_address
from fastvideo_ui.auth.sessions import SessionBook
from fastvideo_ui.auth.strength import TOKEN_RULE, estimated_bits
from fastvideo_ui.config import add_server_arguments, is_loopback, settings_from_args
from fastvideo_ui.database.engine import make_engine
from fastvideo_ui.database.migrate import migrate
from fastvideo_ui.webhooks.signing import new_secret

TOKEN = "tests-TQAyeDlTwNJX0axsO6irLJoeY8dn"
WEBHOOK_SECRET = "webhook-tests-tUl0JgqeC9YzUXDW2eX921SoMhDD"


def cookie_of(server: Server) -> str:
    return f"fastvideo_ui_session_{server.port}"


def sign_in(server: Server) -> str:
    """A new session's cookie value, as a browser would get it."""
    response = httpx.post(server.url + "/api/session", json={"token": TOKEN})
    assert response.status_code == 200, response.text
    return response.cookies[cookie_of(server)]


def as_browser(server: Server, cookie: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=10, cookies={cookie_of(server): cookie})


def authed(server: Server) -> Server:
    server.client.headers["Authorization"] = f"Bearer {TOKEN}"
    return server


def run_server(*args: str, env: dict[str, str] | None = None, tmp_path: Path) -> tuple[int | None, str, str]:
    """Start the server: (its exit status, or None while it still serves once
    /api/health answers; stdout; stderr). A refusal exits at once. It listens
    on a port of the kernel's choosing (--port 0) and says which: a port
    free_port() found could be another test's server by the time this one
    binds, and that server's /api/health would answer for it."""
    command = [sys.executable, "-m", "fastvideo_ui.server", "--port", "0", "--data-dir", str(tmp_path / "data"),
               *args]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FASTVIDEO_UI_")}
    full_env.update(env or {})
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env)
    assert proc.stdout is not None
    said: list[str] = []  # its first line: the address it serves on, or nothing if it exits
    reader = threading.Thread(target=lambda: said.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(30)
    line = said[0] if said else ""
    port = re.search(r":(\d+)/", line)

    def answered_or_exited() -> bool:
        if proc.poll() is not None:
            return True
        try:
            return port is not None and httpx.get(f"http://127.0.0.1:{port.group(1)}/api/health").status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(answered_or_exited, timeout=30, what="the server to serve or exit")
    status = proc.poll()
    if status is None:
        proc.terminate()
    stdout, stderr = proc.communicate(timeout=20)
    return status, line + stdout, stderr


# -- refusing to listen openly ---------------------------------------------------

@pytest.mark.slow
def test_a_non_loopback_bind_without_a_token_refuses_to_start(tmp_path: Path) -> None:
    status, stdout, message = run_server("--host", "0.0.0.0", tmp_path=tmp_path)
    assert status == 1, (status, stdout, message)
    assert "refusing to listen on 0.0.0.0 without an API token" in message
    assert "FASTVIDEO_UI_API_TOKEN" in message and "--api-token-file" in message
    assert "--insecure-no-auth" in message


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_short_token_is_refused_with_advice(tmp_path: Path) -> None:
    status, _, stderr = run_server("--api-token", "short", tmp_path=tmp_path)
    assert status == 1
    assert "at least 16 characters" in stderr and "secrets.token_urlsafe" in stderr


def parse(*argv: str, env: dict[str, str] | None = None) -> object:
    parser = argparse.ArgumentParser()
    add_server_arguments(parser)
    old = dict(os.environ)
    os.environ.update(env or {})
    try:
        return settings_from_args(parser.parse_args(list(argv)))
    finally:
        os.environ.clear()
        os.environ.update(old)


@pytest.mark.parametrize("weak", ["aaaaaaaaaaaaaaaa", "1234567890123456", "passwordpassword",
                                  "0123456789abcdef", "v1-token-0123456789abcdefgh"])
def test_a_token_of_sixteen_characters_but_little_entropy_is_refused_with_the_rule(weak: str) -> None:
    with pytest.raises(SystemExit) as refused:
        parse(f"--api-token={weak}")
    message = str(refused.value)
    assert "the API token is too weak" in message and TOKEN_RULE in message
    assert "secrets.token_urlsafe(32)" in message
    with pytest.raises(SystemExit) as refused:  # the webhook secret has the same rule
        parse(env={"FASTVIDEO_UI_WEBHOOK_SECRET": weak})
    assert "the webhook secret is too weak" in str(refused.value) and TOKEN_RULE in str(refused.value)


@pytest.mark.slow
def test_random_tokens_pass_the_rule() -> None:
    for _ in range(200):
        for token in (secrets.token_urlsafe(32), secrets.token_hex(16), str(uuid.uuid4())):
            assert parse(f"--api-token={token}").api_token == token  # type: ignore[attr-defined]
    assert parse(env={"FASTVIDEO_UI_WEBHOOK_SECRET": new_secret()}).webhook_secret  # type: ignore[attr-defined]
    assert parse("--api-token", TOKEN).api_token == TOKEN  # type: ignore[attr-defined]


def test_the_entropy_estimate() -> None:
    assert estimated_bits("aaaaaaaaaaaaaaaa") == 4  # one character, of the smallest alphabet holding it: hex
    assert estimated_bits("passwordpassword") < 40  # the second "password" and the "ss" count nothing
    assert estimated_bits("abcdefghijklmnop") < 10  # a run
    # A fixed draw of 256 random bits: the estimate of a fresh draw dips below 200 about once in 200 tries
    # (its discounts for repeats and runs hit random text too), which made this line fail at random.
    assert estimated_bits(f"{random.Random(25).getrandbits(256):064x}") > 200
    assert estimated_bits("") == 0


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
    assert set_cookie.startswith(f"{cookie_of(locked)}=")  # named for this server's port
    assert "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie and "Max-Age=" in set_cookie
    assert TOKEN not in set_cookie
    assert browser.get("/api/session").json()["authenticated"] is True
    assert browser.get(f"/api/jobs/{job['id']}/video", headers={"Range": "bytes=0-99"}).status_code == 206
    with browser.stream("GET", "/api/events") as events:
        assert events.status_code == 200
        assert next(events.iter_bytes()).startswith(b"retry:")
    # A tampered cookie is no session.
    cookie = browser.cookies[cookie_of(locked)]
    flipped = cookie[:-1] + ("A" if cookie.endswith("B") else "B")
    assert as_browser(locked, flipped).get("/api/jobs").status_code == 401
    # Signing out forgets the cookie in the browser, and ends the session on the server.
    assert browser.delete("/api/session").status_code == 200
    assert browser.get("/api/jobs").status_code == 401
    assert as_browser(locked, cookie).get("/api/jobs").status_code == 401


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[InProcessServer]:
    running = InProcessServer(tmp_path / "data", ["--api-token", TOKEN])
    try:
        running.start()
        yield running
    finally:
        running.terminate()
        running.client.close()


def test_a_cookie_replayed_after_signing_out_is_refused_also_after_a_restart(guarded: InProcessServer) -> None:
    signed_out, kept, later = sign_in(guarded), sign_in(guarded), sign_in(guarded)
    assert as_browser(guarded, signed_out).delete("/api/session").status_code == 200
    assert as_browser(guarded, signed_out).get("/api/jobs").status_code == 401
    assert as_browser(guarded, signed_out).get("/api/session").json()["authenticated"] is False
    guarded.terminate()
    guarded.start()  # the same port and data dir
    assert as_browser(guarded, signed_out).get("/api/jobs").status_code == 401
    assert as_browser(guarded, kept).get("/api/jobs").status_code == 200  # sessions outlive a restart
    assert as_browser(guarded, later).delete("/api/session").status_code == 200
    assert as_browser(guarded, later).get("/api/jobs").status_code == 401
    assert as_browser(guarded, kept).get("/api/jobs").status_code == 200


def test_a_new_token_ends_every_session(guarded: InProcessServer) -> None:
    cookie = sign_in(guarded)
    guarded.terminate()
    guarded.args = ["--api-token", TOKEN + "-rotated"]
    guarded.start()
    assert as_browser(guarded, cookie).get("/api/jobs").status_code == 401


def test_a_session_belongs_to_its_server_and_its_cookie_to_its_port(guarded: InProcessServer,
                                                                    tmp_path: Path) -> None:
    """Two servers on one host, with one token: a browser sends both the
    cookies of both ports; neither server reads the other's, nor accepts its
    session under its own name."""
    other = InProcessServer(tmp_path / "other", ["--api-token", TOKEN])
    try:
        other.start()
        ours, theirs = sign_in(guarded), sign_in(other)
        assert cookie_of(guarded) != cookie_of(other)
        both = {cookie_of(guarded): ours, cookie_of(other): theirs}
        assert httpx.get(guarded.url + "/api/jobs", cookies=both).status_code == 200
        assert httpx.get(other.url + "/api/jobs", cookies=both).status_code == 200
        assert httpx.get(other.url + "/api/jobs", cookies={cookie_of(other): ours}).status_code == 401
        assert httpx.get(guarded.url + "/api/jobs", cookies={cookie_of(guarded): theirs}).status_code == 401
        # Signing out of one leaves the other signed in.
        assert httpx.delete(guarded.url + "/api/session", cookies=both).status_code == 200
        assert httpx.get(guarded.url + "/api/jobs", cookies=both).status_code == 401
        assert httpx.get(other.url + "/api/jobs", cookies=both).status_code == 200
        schema = httpx.get(other.url + "/openapi.json").json()
        assert schema["components"]["securitySchemes"]["session"]["name"] == cookie_of(other)
    finally:
        other.terminate()
        other.client.close()


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
    # No credentials at all is not an attempt: the page and health still answer.
    assert anonymous.get("/api/health").status_code == 200 and anonymous.get("/").status_code == 200


def test_a_locked_out_address_gets_429_for_the_right_token_too(guarded: InProcessServer) -> None:
    """While locked out, no credential is compared: 429 says nothing about
    whether the token was right."""
    browser = sign_in(guarded)  # before the lock-out
    wrong = httpx.Client(base_url=guarded.url, headers={"Authorization": f"Bearer {TOKEN}-guess"})
    assert [wrong.get("/api/jobs").status_code for _ in range(10)] == [401] * 10
    right = httpx.Client(base_url=guarded.url, headers={"Authorization": f"Bearer {TOKEN}"})
    for client in (right, wrong):
        for path in ("/api/jobs", "/api/health", "/api/session", "/v1/videos", "/metrics"):
            answer = client.get(path)
            assert answer.status_code == 429, (path, answer.status_code)
            assert 1 <= int(answer.headers["retry-after"]) <= 60
    for token in (TOKEN, TOKEN + "-guess"):
        assert httpx.post(guarded.url + "/api/session", json={"token": token}).status_code == 429
    # A live session is no guess at the token: it keeps working from here.
    assert as_browser(guarded, browser).get("/api/jobs").status_code == 200
    assert httpx.get(guarded.url + "/api/health").json().keys() == {"status", "version"}


@pytest.mark.parametrize("path", ["/api/health", "/api/session"])
def test_wrong_tokens_on_the_public_paths_count_toward_the_lock_out(guarded: InProcessServer, path: str) -> None:
    wrong = httpx.Client(base_url=guarded.url, headers={"Authorization": f"Bearer {TOKEN}-guess"})
    answers = [wrong.get(path) for _ in range(40)]
    assert [answer.status_code for answer in answers] == [200] * 10 + [429] * 30
    assert "workers" not in answers[0].json() and answers[0].json().get("authenticated") is not True
    assert guarded.client.get("/api/jobs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 429


def test_a_stale_cookie_counts_once_but_forged_ones_each(guarded: InProcessServer) -> None:
    """A page whose session ended sends its cookie with every request: its
    owner must still be able to sign in again. A guesser's new cookies count."""
    stale = as_browser(guarded, "an-ended-session-" + secrets.token_urlsafe(32))
    assert [stale.get("/api/jobs").status_code for _ in range(30)] == [401] * 30
    assert stale.get("/api/session").json() == {"auth_required": True, "authenticated": False}
    assert stale.post("/api/session", json={"token": TOKEN}).status_code == 200
    forged = [as_browser(guarded, secrets.token_urlsafe(32)).get("/api/jobs").status_code for _ in range(12)]
    assert forged.count(401) == 9 and forged[-3:] == [429] * 3  # the stale one was the first failure


def test_a_forwarded_address_does_not_reset_the_lock_out(locked: Server) -> None:
    # uvicorn believed X-Forwarded-For from loopback: a new address per guess, no lock-out.
    statuses = [httpx.get(f"{locked.url}/api/jobs", headers={
        "Authorization": f"Bearer guess-{i}-0123456789abcdef", "X-Forwarded-For": f"203.0.113.{i}"}).status_code
        for i in range(12)]
    assert statuses == [401] * 10 + [429] * 2


# -- pure logic ----------------------------------------------------------------------

@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    made = make_engine(tmp_path / "jobs.sqlite3")
    migrate(made)
    yield made
    made.dispose()


def test_sessions_expire_end_and_are_bound_to_the_token(engine: Engine) -> None:
    book = SessionBook(engine, TOKEN)
    book.load()
    now = time.time()
    session = book.create(now)
    assert book.valid(session, now + 60)
    assert not book.valid(session + "x", now) and not book.valid("", now)
    assert not book.valid(session, now + 31 * 24 * 3600)  # expired: and forgotten
    assert not book.valid(session, now)
    session = book.create(now)
    rotated = SessionBook(engine, TOKEN + "x")
    rotated.load(now)
    assert not rotated.valid(session, now)  # the same rows, another token
    again = SessionBook(engine, TOKEN)
    again.load(now)
    assert again.valid(session, now)  # read back, as after a restart
    assert again.revoke(session) and not again.valid(session, now) and not again.revoke(session)
    fresh = SessionBook(engine, TOKEN)
    fresh.load(now)
    assert not fresh.valid(session, now)  # ended in the database too


def test_the_database_holds_no_session_id_and_no_expired_row(engine: Engine) -> None:
    book = SessionBook(engine, TOKEN, ttl_s=60)
    book.load()
    now = time.time()
    old = book.create(now - 120)
    current = book.create(now)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT digest, expires_at FROM sessions")).all()
    assert len(rows) == 1 and rows[0][1] > now  # the expired one was pruned at the next sign-in
    assert all(current not in digest and old not in digest for digest, _ in rows)


def test_past_the_cap_the_oldest_sessions_end(engine: Engine) -> None:
    book = SessionBook(engine, TOKEN, max_sessions=3)
    book.load()
    sessions = [book.create(1_000 + i) for i in range(5)]
    assert [book.valid(s, 1_010) for s in sessions] == [False, False, True, True, True]
    reread = SessionBook(engine, TOKEN, max_sessions=2)
    reread.load(1_010)
    assert [reread.valid(s, 1_010) for s in sessions] == [False, False, False, True, True]


def test_an_ipv6_client_is_counted_by_its_slash_64() -> None:
    def address(host: str) -> str:
        return client_address({"client": (host, 1234)})

    assert address("2001:db8:1:2::1") == address("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert address("2001:db8:1:3::1") != address("2001:db8:1:2::1")
    assert address("::ffff:203.0.113.9") == address("203.0.113.9") == "203.0.113.9"
    assert client_address({}) == "unknown"


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
