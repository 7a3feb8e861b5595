"""Webhooks against a local receiver: signed, retried with backoff, every
attempt recorded, never in the scheduler's way, and never to this machine
unless the server allows it."""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.server
import json
import logging
import os
import signal
import socketserver
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from conftest import LONG, PREVIEW, InProcessServer, Server, wait_for
from fastvideo_ui.config import add_server_arguments, settings_from_args
from fastvideo_ui.webhooks import signing
from fastvideo_ui.webhooks.network import CheckedNetwork
from fastvideo_ui.webhooks.targets import TargetPolicy, TargetRefused, own_addresses

SMALL = {"model_id": PREVIEW, "prompt": "a fox", "num_inference_steps": 2, "num_frames": 5, "height": 64,
         "width": 64}


class Receiver:
    """An HTTP endpoint on loopback that records what it is sent. `answers`
    are the status codes for the first requests (then 200); `hold` makes it
    wait before answering, until released."""

    def __init__(self, answers: list[int] | None = None, port: int = 0) -> None:
        self.answers = list(answers or [])
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.paths: list[str] = []
        self.release = threading.Event()
        self.release.set()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.release.wait(60)
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                receiver.paths.append(self.path)
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def events(self) -> list[str]:
        return [json.loads(body)["type"] for _, body in self.received]

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(answers: list[int] | None = None) -> Receiver:
        made.append(Receiver(answers))
        return made[-1]

    yield make
    for one in made:
        one.close()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(*args: str) -> Server:
        servers.append(InProcessServer(tmp_path / "data", ["--webhook-allow-local", "--webhook-backoff", "0.05",
                                                           *args]).start())
        return servers[-1]

    yield start
    for server in servers:
        server.terminate()
        server.client.close()


def in_new_loop(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """asyncio.run, on a thread of its own: Playwright's sync API (the browser
    tests, in the same xdist worker) keeps an event loop running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def deliveries(server: Server, job_id: str) -> list[dict[str, Any]]:
    return server.client.get(f"/api/jobs/{job_id}/webhooks").json()["deliveries"]


def settled(server: Server, job_id: str, count: int) -> list[dict[str, Any]]:
    """The job's deliveries once `count` of them are no longer pending."""
    return wait_for(lambda: len(found := [d for d in deliveries(server, job_id) if d["status"] != "pending"])
                    >= count and found, timeout=30, what=f"{count} deliveries of job {job_id} to settle")


def test_a_failing_receiver_gets_retries_until_it_recovers_each_signed_and_recorded(
        serve: Callable[..., Server], receiver: Callable[..., Receiver], tmp_path: Path) -> None:
    hook = receiver([500, 503, 500])
    server = serve()
    job = server.create(**SMALL, start=True, webhook_url=hook.url)
    assert job["webhook_url"] == hook.url
    server.wait_status(job["id"], "completed")
    started, completed = settled(server, job["id"], 2)
    assert (started["event"], completed["event"]) == ("started", "completed")
    assert started["status"] == completed["status"] == "delivered"
    # Three failures, spread over the two deliveries, each one recorded with its answer.
    codes = [attempt["status_code"] for delivery in (started, completed) for attempt in delivery["attempts"]]
    assert sorted(codes) == [200, 200, 500, 500, 503]
    failed = [a for d in (started, completed) for a in d["attempts"] if a["status_code"] != 200]
    assert all(a["error"] == f"HTTP {a['status_code']}" for a in failed)
    assert all(a["error"] is None for d in (started, completed) for a in d["attempts"] if a["status_code"] == 200)

    secret = (tmp_path / "data" / "webhook-secret").read_text().strip()
    assert secret.startswith("whsec_") and (tmp_path / "data" / "webhook-secret").stat().st_mode & 0o077 == 0
    by_id: dict[str, set[bytes]] = {}
    for headers, body in hook.received:
        assert signing.verify(secret, headers["webhook-id"], headers["webhook-timestamp"], body,
                              headers["webhook-signature"])
        assert not signing.verify(secret, headers["webhook-id"], headers["webhook-timestamp"], body + b" ",
                                  headers["webhook-signature"])
        by_id.setdefault(headers["webhook-id"], set()).add(body)
    # Retries carry the same id and the same body: a receiver can deduplicate on the id.
    assert set(by_id) == {started["id"], completed["id"]} and all(len(bodies) == 1 for bodies in by_id.values())
    event = json.loads(next(iter(by_id[completed["id"]])))
    assert event["type"] == "job.completed" and event["data"]["id"] == job["id"]
    assert event["data"]["status"] == "completed" and event["data"]["video_url"] == f"/api/jobs/{job['id']}/video"


def test_the_server_wide_url_gets_stopped_jobs_and_a_receiver_that_never_recovers_is_given_up(
        serve: Callable[..., Server], receiver: Callable[..., Receiver]) -> None:
    hook = receiver([500] * 100)
    server = serve("--webhook-url", hook.url, "--webhook-attempts", "3")
    job = server.create(**(SMALL | LONG), start=True)
    server.wait_status(job["id"], "running")
    server.client.post(f"/api/jobs/{job['id']}/stop")
    server.wait_status(job["id"], "stopped")
    started, stopped = settled(server, job["id"], 2)
    assert (started["event"], stopped["event"]) == ("started", "stopped")
    for delivery in (started, stopped):
        assert delivery["status"] == "failed" and delivery["url"] == hook.url
        assert [a["number"] for a in delivery["attempts"]] == [1, 2, 3] and delivery["next_attempt_at"] is None
    assert sorted(hook.events()) == ["job.started"] * 3 + ["job.stopped"] * 3

    # A run that fails (its worker killed) posts `failed`, with the reason in the job.
    doomed = server.create(**(SMALL | LONG), start=True)
    server.wait_status(doomed["id"], "running")
    pid = next(w["pid"] for w in server.health()["workers"] if w["job_id"] == doomed["id"])
    os.kill(pid, signal.SIGKILL)
    server.wait_status(doomed["id"], "failed")
    failed = settled(server, doomed["id"], 2)[1]
    assert failed["event"] == "failed" and failed["id"] == f"{doomed['id']}:failed:1"
    sent = next(json.loads(body) for headers, body in hook.received if headers["webhook-id"] == failed["id"])
    assert sent["type"] == "job.failed" and "SIGKILL" in sent["data"]["error"]


def test_a_receiver_that_hangs_holds_up_no_job(serve: Callable[..., Server],
                                               receiver: Callable[..., Receiver]) -> None:
    hook = receiver()
    hook.release.clear()  # it reads each request, then answers nothing until the end of the test
    server = serve("--webhook-url", hook.url)
    first = server.create(**SMALL, start=True)
    second = server.create(**SMALL, start=True)
    for job in (first, second):
        server.wait_status(job["id"], "completed")
    # Both ran to the end while their first event's delivery was still waiting for an answer.
    pending = deliveries(server, first["id"])[0]
    assert pending["event"] == "started" and pending["status"] == "pending" and pending["attempts"] == []
    hook.release.set()
    assert {d["status"] for d in settled(server, second["id"], 2)} == {"delivered"}


def test_a_delivery_queued_before_a_restart_is_sent_after_it(
        serve: Callable[..., Server], receiver: Callable[..., Receiver]) -> None:
    closed = receiver()
    url = closed.url
    closed.close()  # nothing listens there: every attempt is refused
    server = serve("--webhook-backoff", "1")
    job = server.create(**SMALL, start=True, webhook_url=url)
    server.wait_status(job["id"], "completed")
    wait_for(lambda: all(d["attempts"] for d in deliveries(server, job["id"])) and len(deliveries(server, job["id"]))
             == 2, what="a first, refused attempt of both deliveries")
    assert "refused" in deliveries(server, job["id"])[0]["attempts"][0]["error"].lower()
    server.terminate()

    reopened = Receiver(port=int(url.rsplit(":", 1)[1].split("/")[0]))  # the receiver is back
    try:
        again = serve("--webhook-backoff", "1")
        for delivery in settled(again, job["id"], 2):
            assert delivery["status"] == "delivered" and delivery["attempts"][-1]["status_code"] == 200
        assert sorted(reopened.events()) == ["job.completed", "job.started"]
    finally:
        reopened.close()


def test_loopback_and_link_local_targets_are_refused_by_default(server: Server) -> None:
    for url in ("http://127.0.0.1:9/x", "http://localhost/x", "http://[::1]/x", "http://169.254.169.254/latest",
                "http://[::ffff:127.0.0.1]/x", "http://0.0.0.0/x", "ftp://example.com/x", "http:///x",
                "http://app.localhost/x"):
        refused = server.client.post("/api/jobs", json=SMALL | {"webhook_url": url})
        assert refused.status_code == 422, url
        assert refused.json()["detail"][0]["loc"] == ["body", "webhook_url"], refused.json()
    assert [job["webhook_url"] for job in server.client.get("/api/jobs").json()] == []
    assert server.client.post("/api/jobs", json=SMALL | {"webhook_url": "https://hooks.example.com/x"}
                              ).status_code == 201
    # A name is checked again when the delivery connects, against every address it resolves to.
    with pytest.raises(TargetRefused, match="loopback"):
        in_new_loop(CheckedNetwork(TargetPolicy()).checked_address("localhost", 80))
    assert in_new_loop(CheckedNetwork(TargetPolicy(allow_local=True)).checked_address("localhost", 80))


def test_the_server_wide_url_and_settings_are_checked_at_start() -> None:
    def settings(*args: str) -> Any:
        parser = argparse.ArgumentParser()
        add_server_arguments(parser)
        return settings_from_args(parser.parse_args(list(args)))

    with pytest.raises(SystemExit, match="--webhook-url: .*loopback"):
        settings("--webhook-url", "http://127.0.0.1:8000/hook")
    assert settings("--webhook-url", "http://127.0.0.1:8000/hook", "--webhook-allow-local").webhook_url
    with pytest.raises(SystemExit, match="--webhook-attempts"):
        settings("--webhook-attempts", "0")
    assert TargetPolicy().url_problem("https://hooks.example.com/x") is None
    assert "2000" in (TargetPolicy().url_problem("https://example.com/" + "x" * 2000) or "")


def test_a_private_network_needs_the_allow_list_and_this_machine_stays_refused_within_it(tmp_path: Path) -> None:
    own = next((str(a) for a in own_addresses() if a.version == 4 and not a.is_loopback), None)
    server = InProcessServer(tmp_path / "data", ["--webhook-allow-network", "10.0.0.0/8",
                                                 *(["--webhook-allow-network", f"{own}/32"] if own else [])]).start()
    try:
        def answer(url: str) -> tuple[int, str]:
            response = server.client.post("/api/jobs", json=SMALL | {"webhook_url": url})
            return response.status_code, str(response.json().get("detail"))

        assert answer("http://10.1.2.3:8080/hook")[0] == 201
        status, detail = answer("http://192.168.1.10/hook")
        assert status == 422 and "--webhook-allow-network" in detail, detail
        for url in ("http://100.100.100.200/latest", "http://[fd00:ec2::254]/latest",
                    "http://[64:ff9b::a9fe:a9fe]/latest", *([f"http://{own}:9/x"] if own else [])):
            status, detail = answer(url)
            assert status == 422 and "--webhook-allow-local" in detail, (url, detail)
    finally:
        server.terminate()
        server.client.close()


class Trickler:
    """A receiver that reads a request, then answers one byte at a time, for
    ever: a per-read timeout never fires on it."""

    def __init__(self) -> None:
        self.requests = 0
        self.stop = threading.Event()
        trickler = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.recv(65536)
                trickler.requests += 1
                answer = b"HTTP/1.1 200 OK\r\nx-slow: " + b"a" * 100_000
                for byte in answer:
                    if trickler.stop.wait(0.5):
                        return
                    try:
                        self.request.sendall(bytes([byte]))
                    except OSError:
                        return

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/slow"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def trickler() -> Iterator[Trickler]:
    slow = Trickler()
    yield slow
    slow.close()


def test_a_receiver_that_trickles_its_answer_holds_up_no_other_receiver(
        serve: Callable[..., Server], receiver: Callable[..., Receiver], trickler: Trickler) -> None:
    fast = receiver()
    server = serve("--webhook-timeout", "600")  # so only the per-receiver cap lets the others through
    # Four jobs, eight deliveries to the trickler: as many as there are delivery slots.
    slow_jobs = [server.create(**SMALL, start=True, webhook_url=trickler.url) for _ in range(4)]
    for job in slow_jobs:
        server.wait_status(job["id"], "completed")
    other = server.create(**SMALL, start=True, webhook_url=fast.url)
    server.wait_status(other["id"], "completed")
    wait_for(lambda: sorted(fast.events()) == ["job.completed", "job.started"], timeout=30,
             what="the fast receiver's webhooks, past the trickler's")
    wait_for(lambda: trickler.requests >= 2, what="the trickler's first posts")
    assert trickler.requests == 2  # --webhook-posts-per-target; the other six wait their turn
    assert {d["status"] for job in slow_jobs for d in deliveries(server, job["id"])} == {"pending"}


@pytest.mark.slow
def test_spellings_of_one_receiver_share_its_slots(
        serve: Callable[..., Server], receiver: Callable[..., Receiver], trickler: Trickler) -> None:
    """The cap counts the address a post connects to, not the URL's text: eight
    names for the trickler's address took every slot when each got its own two."""
    fast = receiver()
    server = serve("--webhook-timeout", "600")
    port = trickler.server.server_address[1]
    spellings = ["127.0.0.1", "127.1", "127.0.1", "2130706433", "0x7f000001", "0177.0.0.1", "[::ffff:127.0.0.1]",
                 "localhost"]
    slow_jobs = [server.create(**SMALL, start=True, webhook_url=f"http://{host}:{port}/slow") for host in spellings]
    for job in slow_jobs:
        server.wait_status(job["id"], "completed")
    other = server.create(**SMALL, start=True, webhook_url=fast.url)
    server.wait_status(other["id"], "completed")
    wait_for(lambda: sorted(fast.events()) == ["job.completed", "job.started"], timeout=30,
             what="the fast receiver's webhooks, past the trickler's")
    wait_for(lambda: trickler.requests >= 2, what="the trickler's first posts")
    waiting = [d for job in slow_jobs for d in deliveries(server, job["id"])]
    assert trickler.requests == 2  # --webhook-posts-per-target, whatever the spelling
    assert {d["status"] for d in waiting} == {"pending"} and all(not d["attempts"] for d in waiting)  # put back


@pytest.mark.slow
def test_a_post_ends_at_its_deadline_however_steadily_the_answer_trickles(
        serve: Callable[..., Server], trickler: Trickler) -> None:
    server = serve("--webhook-timeout", "1")
    job = server.create(**SMALL, start=True, webhook_url=trickler.url)
    server.wait_status(job["id"], "completed")
    errors = wait_for(lambda: [a["error"] for d in deliveries(server, job["id"]) for a in d["attempts"]],
                      timeout=30, what="an attempt to the trickler to end")
    assert errors[0].startswith("timed out") and "1 s" in errors[0], errors


def test_a_password_in_a_webhook_url_is_shown_nowhere_but_still_sent(
        serve: Callable[..., Server], receiver: Callable[..., Receiver], caplog: pytest.LogCaptureFixture) -> None:
    hook = receiver([500])  # one failed attempt: the server logs it, with the URL
    host = hook.url.split("//")[1]
    url = f"http://hook-user:hunter2-secret@{host}?token=query-secret&v=1"
    shown = f"http://hook-user:***@{host}?token=***&v=***"
    server = serve("--webhook-attempts", "3")
    caplog.set_level(logging.WARNING, logger="fastvideo_ui.webhooks")
    job = server.create(**(SMALL | LONG), start=True, webhook_url=url)
    assert job["webhook_url"] == shown
    server.wait_status(job["id"], "running")
    server.client.post(f"/api/jobs/{job['id']}/stop")
    server.wait_status(job["id"], "stopped")
    # Run again (a retry) and remixed: both post to the stored URL, not the redacted one.
    server.client.post(f"/api/jobs/{job['id']}/start")
    server.wait_status(job["id"], "running")
    server.client.post(f"/api/jobs/{job['id']}/stop")
    server.wait_status(job["id"], "stopped")
    remix = server.client.post(f"/v1/videos/{job['id']}/remix", json={"prompt": "a fox, again"}).json()
    server.wait_status(remix["id"], "running")  # a remix keeps the job's settings: this one's many steps
    server.client.post(f"/api/jobs/{remix['id']}/stop")
    server.wait_status(remix["id"], "stopped")
    retried = settled(server, job["id"], 4)
    remixed = settled(server, remix["id"], 2)
    assert {d["status"] for d in retried + remixed} == {"delivered"}

    assert [j["webhook_url"] for j in server.client.get("/api/jobs").json()] == [shown, shown]
    assert {d["url"] for d in retried + remixed} == {shown}
    sent = [(headers, json.loads(body)) for headers, body in hook.received]
    assert {event["data"]["id"] for _, event in sent} == {job["id"], remix["id"]}
    assert {headers["webhook-id"] for headers, _ in sent} >= {f"{job['id']}:started:2", f"{remix['id']}:stopped:1"}
    assert {event["data"]["webhook_url"] for _, event in sent} == {shown}
    basic = "Basic " + base64.b64encode(b"hook-user:hunter2-secret").decode()
    assert {headers.get("authorization") for headers, _ in sent} == {basic}
    assert set(hook.paths) == {"/hook?token=query-secret&v=1"}
    assert f"to {shown}, attempt 1 of 3: HTTP 500" in caplog.text
    assert "hunter2" not in caplog.text and "query-secret" not in caplog.text


def test_a_name_that_does_not_resolve_says_so() -> None:
    from fastvideo_ui.webhooks.network import describe

    async def connect() -> str:
        try:
            await CheckedNetwork(TargetPolicy()).checked_address("no-such-receiver.invalid", 443)
        except Exception as exc:  # noqa: BLE001 - what the sender would record
            return describe(exc)
        return "connected"

    # The resolver's errno (-2) read as an OS error made "cannot connect: Unknown error -2".
    said = in_new_loop(connect())
    assert said.startswith("cannot resolve no-such-receiver.invalid: "), said
    assert "Unknown error" not in said
