"""Model weights against a fake Hugging Face hub on loopback (HF_ENDPOINT):
cache state in /api/models, a pre-fetch with progress over SSE, a disk-space
check first, cancel and resume, and delete."""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import PREVIEW, WAN, InProcessServer, Server, run_in_own_loop, wait_for
from fake_hub import FakeHub

from fastvideo_ui.weights.downloads import DownloadManager

MB = 1024 * 1024


def use_hub(monkeypatch: pytest.MonkeyPatch, hub: FakeHub, tmp_path: Path) -> None:
    """This process, and the servers it starts, fetch from the fake hub into a cache of the test's own."""
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


@pytest.fixture
def hub_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., tuple[Server, FakeHub]]]:
    started: list[tuple[Server, FakeHub]] = []

    def start(files: dict[str, bytes], **hub_options: Any) -> tuple[Server, FakeHub]:
        hub = FakeHub({WAN: files}, **hub_options)
        use_hub(monkeypatch, hub, tmp_path)
        started.append((InProcessServer(tmp_path / "data", []).start(), hub))
        return started[-1]

    yield start
    for server, hub in started:
        server.terminate()
        server.client.close()
        hub.close()


class Events(threading.Thread):
    """`download` events from /api/events, as the web UI reads them."""

    def __init__(self, server: Server) -> None:
        super().__init__(daemon=True)
        self.url = server.url + "/api/events"
        self.seen: list[dict[str, Any]] = []
        self.open = threading.Event()
        self.start()
        assert self.open.wait(10)

    def run(self) -> None:
        try:
            with httpx.stream("GET", self.url, timeout=None) as stream:
                self.open.set()
                kind = None
                for line in stream.iter_lines():
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: ") and kind == "download":
                        self.seen.append(json.loads(line[6:]))
        except httpx.HTTPError:
            pass  # the server stopped at the end of the test


def weights(server: Server) -> dict[str, Any]:
    return next(model for model in server.client.get("/api/models").json() if model["id"] == WAN)["weights"]


def download_path(model_id: str = WAN) -> str:
    return f"/api/models/{model_id}/download"


def ended(server: Server) -> dict[str, Any]:
    return wait_for(lambda: (state := weights(server)["download"]) and state["status"] not in
                    ("starting", "downloading") and state, timeout=60, what="the download to end")


def test_a_prefetch_shows_progress_and_leaves_the_model_cached(hub_server: Callable[..., tuple[Server, FakeHub]],
                                                                tmp_path: Path) -> None:
    files = {"model_index.json": b'{"_class_name": "WanPipeline"}', "transformer/a.safetensors": b"a" * (24 * MB)}
    server, hub = hub_server(files | {"text_encoder/model.onnx": b"o" * MB}, rate=12 * MB)
    before = weights(server)
    assert (before["cached"], before["size_bytes"], before["download"]) == (False, 0, None)
    events = Events(server)
    started = server.client.post(download_path())
    assert started.status_code == 202 and started.json()["status"] in ("starting", "downloading")
    assert server.client.post(download_path()).json()["started_at"] == started.json()["started_at"]  # the same one
    done = ended(server)
    total = sum(len(data) for data in files.values())
    assert (done["status"], done["bytes_done"], done["bytes_total"], done["error"]) == ("done", total, total, None)
    after = weights(server)
    assert after["cached"] and after["size_bytes"] == total and after["partial_bytes"] == 0
    snapshot = next((tmp_path / "hf-cache" / f"models--{WAN.replace('/', '--')}" / "snapshots").iterdir())
    assert (snapshot / "transformer" / "a.safetensors").read_bytes() == files["transformer/a.safetensors"]
    # What FastVideo itself leaves out (ONNX, msgpack) is neither fetched nor counted.
    assert not (snapshot / "text_encoder").exists()
    assert not [path for _, path, _ in hub.requests if path.endswith(".onnx")]
    # Progress went out as it came in: some bytes of the total, with a rate and an ETA, before the end.
    wait_for(lambda: any(event["status"] == "done" for event in events.seen), what="the done event")
    midway = [event for event in events.seen if event["status"] == "downloading" and 0 < event["bytes_done"] < total]
    assert midway and all(event["bytes_total"] == total for event in midway), events.seen
    assert any(event["rate_bytes_per_s"] and event["eta_seconds"] is not None for event in midway), midway


def test_cancel_then_start_again_resumes_where_it_stopped(
        hub_server: Callable[..., tuple[Server, FakeHub]]) -> None:
    files = {"a.safetensors": b"a" * (2 * MB), "b.safetensors": b"b" * (64 * MB)}
    server, hub = hub_server(files, rate=16 * MB)
    server.client.post(download_path())
    # a.safetensors (2 MB) lands whole, and b.safetensors (64 MB at 16 MB/s) is on its way.
    wait_for(lambda: (weights(server)["download"] or {}).get("bytes_done", 0) >= 6 * MB, timeout=30,
             what="the first file and part of the second")
    cancelled = server.client.delete(download_path())
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert server.client.delete(download_path()).status_code == 409  # nothing runs now
    state = weights(server)
    assert not state["cached"] and state["partial_bytes"] > 0 and state["size_bytes"] < sum(map(len, files.values()))
    kept = state["partial_bytes"]

    server.client.post(download_path())
    assert ended(server)["status"] == "done" and weights(server)["cached"]
    gets = [(path.rsplit("/", 1)[1], ranged) for method, path, ranged in hub.requests
            if method == "GET" and "/resolve/" in path]
    assert [name for name, _ in gets].count("a.safetensors") == 1  # the finished file is not fetched again
    b_gets = [ranged for name, ranged in gets if name == "b.safetensors"]
    assert len(b_gets) == 2 and b_gets[0] is None and b_gets[1] == f"bytes={kept}-", b_gets  # resumed, not restarted
    snapshot = next((server_cache(server) / "snapshots").iterdir())
    assert (snapshot / "b.safetensors").read_bytes() == files["b.safetensors"]


def server_cache(server: Server) -> Path:
    return Path(os.environ["HF_HUB_CACHE"]) / f"models--{WAN.replace('/', '--')}"


def test_not_enough_disk_is_refused_before_a_byte_is_fetched(
        hub_server: Callable[..., tuple[Server, FakeHub]]) -> None:
    server, hub = hub_server({"huge.safetensors": b"x"}, declared_sizes={"huge.safetensors": 10**15})
    server.client.post(download_path())
    failed = ended(server)
    assert failed["status"] == "failed" and failed["error"].startswith("not enough disk space:"), failed
    assert "1000000.0 GB more" in failed["error"]
    assert not [path for method, path, _ in hub.requests if "/resolve/" in path]


def test_delete_frees_the_cache_but_never_under_a_running_download(
        hub_server: Callable[..., tuple[Server, FakeHub]]) -> None:
    server, _ = hub_server({"a.safetensors": b"a" * (32 * MB)}, rate=8 * MB)
    server.client.post(download_path())
    refused = server.client.delete(f"/api/models/{WAN}/weights")
    assert refused.status_code == 409 and "download" in refused.json()["detail"]
    assert ended(server)["status"] == "done"
    deleted = server.client.delete(f"/api/models/{WAN}/weights")
    assert deleted.json() == {"model_id": WAN, "freed_bytes": 32 * MB}
    assert weights(server)["cached"] is False and weights(server)["size_bytes"] == 0


def test_models_without_weights_say_so(hub_server: Callable[..., tuple[Server, FakeHub]]) -> None:
    server, _ = hub_server({"a": b"a"})
    assert next(m for m in server.client.get("/api/models").json() if m["id"] == PREVIEW)["weights"] is None
    for path in (download_path(PREVIEW), download_path("nobody/nothing")):
        refused = server.client.post(path)
        assert refused.status_code == 404 and refused.json()["detail"], path


def test_the_new_job_dialog_fetches_weights_with_live_progress(
        fastvideo: Callable[..., Any], open_page: Callable[..., Any], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    from playwright.sync_api import expect

    hub = FakeHub({WAN: {"a.safetensors": b"a" * (40 * MB)}}, rate=10 * MB)
    try:
        use_hub(monkeypatch, hub, tmp_path)
        server = fastvideo(online=True).server  # the fake FastVideo on two fake GPUs: its models can be chosen
        page = open_page(server)
        page.locator("header [data-action=new-job]").click()
        page.select_option("#cj-model_id", WAN)
        line = page.locator("#cj-weights")
        expect(line).to_contain_text("Weights: not downloaded")
        page.get_by_role("button", name="Download weights").click()
        expect(line).to_contain_text(" / 41.9 MB")  # progress pushed over the event stream
        expect(page.get_by_role("button", name="Cancel download")).to_be_visible()
        expect(line).to_have_text("Weights: downloaded (41.9 MB)", timeout=30_000)
        expect(page.get_by_role("button", name="Download weights")).to_be_hidden()
    finally:
        hub.close()


def test_a_job_whose_weights_are_missing_fetches_them_first_and_shows_it(
        fastvideo: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    hub = FakeHub({WAN: {"model_index.json": b"{}", "transformer/a.safetensors": b"a" * (40 * MB)}}, rate=10 * MB)
    try:
        use_hub(monkeypatch, hub, tmp_path)
        fake = fastvideo(online=True)
        server = fake.server
        first = fake.create(prompt="needs weights", start=True)
        job = wait_for(lambda: (found := server.job(first["id"]))["phase"] == "downloading"
                       and re.fullmatch(r"downloading [\d.]+ / 41\.9 MB", found["progress_msg"]) and found,
                       timeout=30, what="the job's downloading phase")
        assert job["status"] == "running" and 0 <= job["progress"] <= 100
        done = server.wait_status(first["id"], "completed", "failed", timeout=60)
        assert done["status"] == "completed", done["error"]
        log = server.log_text(first["id"])
        assert "are not in the cache: fetching them first" in log and "weights fetched: 41.9 / 41.9 MB" in log
        # Fetched once: the next job of the model goes straight to its load.
        second = fake.create(prompt="has weights", start=True)
        assert server.wait_status(second["id"], "completed")["status"] == "completed"
        assert "fetching them first" not in server.log_text(second["id"])
        gets = [path for method, path, _ in hub.requests if method == "GET" and path.endswith("a.safetensors")]
        assert len(gets) == 1
    finally:
        hub.close()


def test_a_job_stopped_while_its_weights_download_stops_the_download_and_a_failed_fetch_fails_the_job(
        fastvideo: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    hub = FakeHub({WAN: {"transformer/a.safetensors": b"a" * (200 * MB)}}, rate=10 * MB)
    try:
        use_hub(monkeypatch, hub, tmp_path)
        fake = fastvideo(online=True)
        server = fake.server
        job = fake.create(prompt="stopped mid-download", start=True)
        wait_for(lambda: server.job(job["id"])["phase"] == "downloading", what="the download to start")
        server.client.post(f"/api/jobs/{job['id']}/stop")
        assert server.wait_status(job["id"], "stopped")["status"] == "stopped"
        state = wait_for(lambda: (d := weights(server)["download"]) and d["status"] != "downloading" and d)
        assert state["status"] == "cancelled" and weights(server)["partial_bytes"] == 0
        assert not fake.events("load")  # no worker loaded anything

        hub.repos.clear()  # the hub no longer has the model
        failed = fake.create(prompt="nothing to fetch", start=True)
        done = server.wait_status(failed["id"], "failed")
        assert done["error"].startswith(f"could not fetch the weights of {WAN}: the hub has no model"), done["error"]
    finally:
        hub.close()


def test_a_server_closed_just_after_a_fetch_said_done_waits_for_that_fetch_to_exit(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The fetch process says done, then takes a moment to exit: a shutdown
    in that moment must still end it and reap it, or it outlives the event
    loop that owns its pipes."""
    hub = FakeHub({WAN: {"model_index.json": b'{"_class_name": "WanPipeline"}', "transformer/a.bin": b"a" * MB}})
    use_hub(monkeypatch, hub, tmp_path)

    async def fetch_then_close() -> tuple[str, str]:
        manager = DownloadManager(lambda _event: None)
        download = manager.start(WAN)
        while download.active:
            download.changed.clear()
            await download.changed.wait()
        status = download.status
        await manager.close()
        process, task = download.process, download.task
        running = process is not None and process.returncode is None
        left = "its process still running" if running else "its task unfinished" if task and not task.done() else ""
        return status, left

    try:
        status, left = run_in_own_loop(fetch_then_close())
    finally:
        hub.close()
    assert status == "done"
    assert left == "", f"after close: {left}"
