"""Model weights against a fake Hugging Face hub on loopback (HF_ENDPOINT):
cache state in /api/models, a pre-fetch with progress over SSE, a disk-space
check first, cancel and resume, and delete."""

from __future__ import annotations

import asyncio
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

from fastvideo_ui.weights.cache import weights_in_use
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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
        expect(page.locator("dialog.create-job")).to_be_visible()  # opened, its model list filled
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


@pytest.mark.slow
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


# -- what a delete removes, and fetches at once ----------------------------------------

UMBRELLA = "org/umbrella-Diffusers"  # one hub repo, a model in each subfolder (FastVideo's org/repo/subfolder ids)


def test_what_uses_a_repo_keeps_its_weights() -> None:
    a, b = f"{UMBRELLA}/t2v-a", f"{UMBRELLA}/t2v-b"
    # Deleting a's weights removes the repo: a job on b, its sibling, would lose its files.
    blocked = weights_in_use(a, {"job-1": WAN, "job-2": b}, [])
    assert blocked == f"job job-2 is running with {b}, whose weights are in the same repo {UMBRELLA}"
    assert weights_in_use(a, {}, [WAN, b]) == (f"a download of {b}, whose weights are in the same repo {UMBRELLA} "
                                               f"is under way (cancel it first)")
    assert weights_in_use(a, {"job-3": a}, []) == "job job-3 is running with them"
    assert weights_in_use(UMBRELLA, {"job-2": b}, []) is not None  # the repo's own id is in it too
    assert weights_in_use(a, {"job-1": WAN, "job-4": "org/umbrella-Diffusers-2/t2v-a"}, [WAN]) is None


@pytest.mark.slow
def test_deleting_a_subfolder_models_weights_waits_for_its_siblings_download(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from fastvideo_ui.jobs import catalogue

    a, b = f"{UMBRELLA}/t2v-a", f"{UMBRELLA}/t2v-b"
    wan = catalogue.Catalogue().find(WAN)
    assert wan is not None
    monkeypatch.setattr(catalogue, "BUILT_IN_MODELS", (*catalogue.BUILT_IN_MODELS, *(
        replace(wan, id=model_id, label=model_id) for model_id in (a, b))))
    files = {"t2v-a/model_index.json": b"{}", "t2v-a/a.bin": b"a" * MB,
             "t2v-b/model_index.json": b"{}", "t2v-b/b.bin": b"b" * (24 * MB)}
    hub = FakeHub({UMBRELLA: files}, rate=8 * MB)
    use_hub(monkeypatch, hub, tmp_path)
    server = InProcessServer(tmp_path / "data", []).start()
    try:
        def state(model_id: str) -> dict[str, Any]:
            return next(m for m in server.client.get("/api/models").json() if m["id"] == model_id)["weights"]

        server.client.post(download_path(a))
        wait_for(lambda: state(a)["download"]["status"] == "done", timeout=60, what="a's download")
        server.client.post(download_path(b))
        refused = server.client.delete(f"/api/models/{a}/weights")
        assert refused.status_code == 409, refused.text
        assert refused.json()["detail"] == (f"cannot delete the weights of {a}: a download of {b}, whose weights are "
                                            f"in the same repo {UMBRELLA} is under way (cancel it first)")
        assert state(a)["cached"]
        wait_for(lambda: state(b)["download"]["status"] == "done", timeout=60, what="b's download")
        # Once nothing uses the repo, deleting either model's weights frees both: they are one repo.
        assert server.client.delete(f"/api/models/{a}/weights").status_code == 200
        assert not state(a)["cached"] and not state(b)["cached"]
    finally:
        server.terminate()
        server.client.close()
        hub.close()


@pytest.mark.slow
def test_at_most_max_downloads_fetches_run_at_once_and_the_rest_wait_in_order(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    repos = {f"org/model-{n}": {"model_index.json": b"{}", "w.bin": bytes([n]) * (2 * MB)} for n in range(5)}
    hub = FakeHub(repos, rate=4 * MB)
    use_hub(monkeypatch, hub, tmp_path)
    seen: list[dict[str, Any]] = []
    most_at_once = [0]

    async def fetch_all() -> dict[str, str]:
        manager = DownloadManager(seen.append)  # the default: --max-downloads 2

        def count(event: dict[str, Any]) -> None:
            seen.append(event)
            running = [d for d in manager.downloads.values() if d.status in ("starting", "downloading")]
            most_at_once[0] = max(most_at_once[0], len(running))

        manager.publish = count
        started = [manager.start(model_id) for model_id in repos]
        cancelled = await manager.cancel("org/model-4")  # still waiting: no process, no slot
        assert cancelled is not None and cancelled.process is None
        while any(download.active for download in started):
            await asyncio.sleep(0.05)
        await manager.close()
        return {download.model_id: download.status for download in started}

    try:
        ended_as = run_in_own_loop(fetch_all(), timeout=120)
    finally:
        hub.close()
    assert ended_as == {**{f"org/model-{n}": "done" for n in range(4)}, "org/model-4": "cancelled"}
    assert most_at_once[0] == 2, seen
    # The third and fourth were asked for while two ran: they said so, and then started in the order asked.
    firsts = {}
    for event in seen:
        firsts.setdefault(event["model_id"], event["status"])
    assert firsts == {"org/model-0": "starting", "org/model-1": "starting", "org/model-2": "waiting",
                      "org/model-3": "waiting", "org/model-4": "waiting"}
    launches = [event["model_id"] for event in seen if event["status"] == "starting"]
    assert launches == [f"org/model-{n}" for n in range(4)]
    fetched = [path.split("/")[2] for method, path, _ in hub.requests if method == "GET" and "/resolve/" in path]
    assert "model-4" not in fetched


@pytest.mark.slow
def test_a_job_waiting_for_a_download_slot_says_so(
        fastvideo: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    other = "FastVideo/FastWan2.1-T2V-1.3B-Diffusers"
    hub = FakeHub({WAN: {"model_index.json": b"{}", "transformer/a.safetensors": b"a" * MB},
                   other: {"model_index.json": b"{}", "transformer/b.safetensors": b"b" * (400 * MB)}}, rate=10 * MB)
    try:
        use_hub(monkeypatch, hub, tmp_path)
        fake = fastvideo("--gpus", "0,1", "--max-downloads", "1", online=True)
        server = fake.server
        assert server.client.post(download_path(other)).json()["status"] in ("starting", "downloading")
        job = fake.create(prompt="waits its turn", start=True)
        waiting = wait_for(lambda: (found := server.job(job["id"]))["phase"] == "waiting to download" and found,
                           timeout=30, what="the job to wait for a download slot")
        assert waiting["progress_msg"] == "waiting for a free download slot (--max-downloads)"
        assert weights(server)["download"]["status"] == "waiting"
        server.client.delete(download_path(other))  # the slot comes free
        assert server.wait_status(job["id"], "completed", "failed", timeout=60)["status"] == "completed"
    finally:
        hub.close()
