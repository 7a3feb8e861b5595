"""Downloads of model weights ahead of a job: one child process per model
(weights/fetch.py), its progress turned into rate and ETA and published as
`download` events; cancel kills it. What it had fetched stays in the cache,
the file it was in the middle of included, so starting again resumes.

At most `max_running` fetches run at once (--max-downloads): each takes a
share of the same link and disk, and a burst of first jobs on new models
started them all together. The rest wait their turn in order, as `waiting`."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import child_environment
from .cache import cached_weights, hub_cache_dir, repo_dir

log = logging.getLogger("fastvideo_ui.weights")
RATE_WINDOW_S = 5.0
MAX_DOWNLOADS = 2  # fetches at once (--max-downloads)
OFFLINE_VALUES = ("1", "on", "yes", "true")  # how huggingface_hub reads HF_HUB_OFFLINE


class WeightsUnavailable(Exception):
    """A job's model could not be fetched: the job fails with this message."""


class Download:
    def __init__(self, model_id: str, args: tuple[str, ...] = ()) -> None:
        self.model_id = model_id
        self.args = args  # the fetch's own arguments beyond the id (a LoRA's: which file, how large at most)
        self.status = "starting"  # waiting (for a slot), starting, downloading, done, failed, cancelled
        self.bytes_done = 0
        self.bytes_total: int | None = None
        self.error: str | None = None
        self.started_at = time.time()
        self.finished_at: float | None = None
        self.process: asyncio.subprocess.Process | None = None
        self.task: asyncio.Task[None] | None = None
        self.changed = asyncio.Event()
        self._samples: deque[tuple[float, int]] = deque()

    @property
    def active(self) -> bool:
        return self.status in ("waiting", "starting", "downloading")

    def record(self, done: int) -> None:
        now = time.monotonic()
        self.bytes_done = done
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > RATE_WINDOW_S:
            self._samples.popleft()

    @property
    def rate(self) -> float | None:
        """Bytes a second over the last few seconds."""
        if len(self._samples) < 2:
            return None
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else None

    def amounts(self) -> str:
        """"12.3 / 28.0 GB" (MB for a model under a gigabyte), as a job's phase shows it."""
        scale, unit = (1e9, "GB") if max(self.bytes_total or 0, self.bytes_done) >= 1e9 else (1e6, "MB")
        total = f" / {self.bytes_total / scale:.1f}" if self.bytes_total is not None else ""
        return f"{self.bytes_done / scale:.1f}{total} {unit}"

    def as_json(self) -> dict[str, Any]:
        rate = self.rate
        left = (self.bytes_total - self.bytes_done) if self.bytes_total is not None else None
        return {
            "model_id": self.model_id, "status": self.status, "bytes_done": self.bytes_done,
            "bytes_total": self.bytes_total, "rate_bytes_per_s": round(rate) if rate is not None else None,
            "eta_seconds": round(left / rate, 1) if rate and left is not None and self.active else None,
            "error": self.error, "started_at": self.started_at, "finished_at": self.finished_at,
        }


class DownloadManager:
    def __init__(self, publish: Callable[[dict[str, Any]], None], cache: Callable[[], Path] = hub_cache_dir,
                 max_running: int = MAX_DOWNLOADS) -> None:
        self.publish = publish
        self.cache = cache
        self.max_running = max_running
        self.downloads: dict[str, Download] = {}
        self._waiting: deque[Download] = deque()  # for a slot, in the order they were asked for
        self._running = 0  # fetches holding a slot, from their launch to their task's end
        self._closing = False

    def state(self, model_id: str) -> dict[str, Any] | None:
        download = self.downloads.get(model_id)
        return download.as_json() if download else None

    def active(self, model_id: str) -> bool:
        download = self.downloads.get(model_id)
        return download is not None and download.active

    def active_models(self) -> list[str]:
        """The models whose weights are being fetched, or wait for a slot to be."""
        return [model_id for model_id, download in self.downloads.items() if download.active]

    def start(self, model_id: str, args: tuple[str, ...] = ()) -> Download:
        """Start fetching (or queue the fetch for a free slot), or the download already under way."""
        current = self.downloads.get(model_id)
        if current is not None and current.active:
            return current
        download = Download(model_id, args)
        self.downloads[model_id] = download
        if self._running < self.max_running and not self._waiting:
            self._launch(download)
        else:
            download.status = "waiting"
            self._waiting.append(download)
        self.publish(download.as_json())
        return download

    def _launch(self, download: Download) -> None:
        self._running += 1
        download.status = "starting"
        download.task = asyncio.create_task(self._run(download), name=f"download {download.model_id}")

    def _launch_waiting(self) -> None:
        """A slot came free: the longest-waiting fetches take it."""
        while self._waiting and self._running < self.max_running and not self._closing:
            download = self._waiting.popleft()
            self._launch(download)
            self.publish(download.as_json())
            download.changed.set()

    async def cancel(self, model_id: str) -> Download | None:
        download = self.downloads.get(model_id)
        if download is None or not download.active:
            return None
        if download.status == "waiting":  # no process yet, and no slot to give back
            self._waiting.remove(download)
            download.status, download.finished_at = "cancelled", time.time()
            self.publish(download.as_json())
            download.changed.set()
            return download
        download.status = "cancelled"
        if download.process is not None and download.process.returncode is None:
            download.process.kill()
        if download.task is not None:
            await asyncio.wait({download.task}, timeout=10)
        return download

    async def ensure(self, model_id: str, report: Callable[[Download], None], stopping: Callable[[], bool],
                     args: tuple[str, ...] = ()) -> bool:
        """Before a FastVideo job loads its model: fetch the weights if the
        cache lacks them (FastVideo would download them inside its load, where
        nobody sees how far it is), reporting progress. False when the job was
        stopped meanwhile; WeightsUnavailable when the fetch failed. Offline
        (HF_HUB_OFFLINE), nothing is fetched: FastVideo says what is missing."""
        if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in OFFLINE_VALUES:
            return True
        if not args and cached_weights(self.cache(), model_id).cached:  # with args, the caller looked
            return True
        download = self.start(model_id, args)
        while download.active:
            if stopping():
                await self.cancel(model_id)
                return False
            report(download)
            download.changed.clear()
            try:
                await asyncio.wait_for(download.changed.wait(), 0.5)
            except asyncio.TimeoutError:
                pass
        if download.status != "done":
            raise WeightsUnavailable(f"could not fetch the weights of {model_id}: {download.error or download.status}")
        report(download)
        return True

    async def close(self) -> None:
        """Cancel what is under way, and wait for every fetch process to be
        gone, one that has already said done or failed included: none outlives
        the server (or its event loop, which must reap it)."""
        self._closing = True  # a slot freed now starts nothing
        for model_id in list(self.downloads):
            await self.cancel(model_id)
        finishing = [d for d in self.downloads.values() if d.task is not None and not d.task.done()]
        for download in finishing:  # its files are in place (or it failed): only its exit is left
            if download.process is not None and download.process.returncode is None:
                download.process.kill()
        if finishing:
            await asyncio.wait({d.task for d in finishing if d.task is not None}, timeout=10)

    async def _run(self, download: Download) -> None:
        try:
            download.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "fastvideo_ui.weights.fetch", download.model_id, *download.args,
                env=child_environment(),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            if download.status == "cancelled":  # while the process was being started: cancel found none to kill
                download.process.kill()
            assert download.process.stdout is not None
            stderr = asyncio.create_task(download.process.stderr.read())  # type: ignore[union-attr]
            async for line in download.process.stdout:
                self._apply(download, line)
            await download.process.wait()
            tail = (await stderr).decode(errors="replace").strip().splitlines()[-1:]
            if download.active:  # it ended without saying done or error
                download.status = "failed"
                download.error = download.error or f"the download stopped: {tail[0] if tail else 'no reason given'}"
        except Exception as exc:  # noqa: BLE001 - a download must never take the server with it
            download.status, download.error = "failed", str(exc)
        finally:
            download.finished_at = time.time()
            if download.status != "done":
                self._drop_partial_files(download.model_id)
            log.info("weights of %s: %s%s", download.model_id, download.status,
                     f" ({download.error})" if download.error else "")
            self.publish(download.as_json())
            download.changed.set()
            self._running -= 1
            self._launch_waiting()

    def _apply(self, download: Download, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            return
        kind = message.get("type")
        if kind == "total":
            download.bytes_total = int(message["bytes"])
            download.status = "downloading" if download.status == "starting" else download.status
        elif kind == "progress":
            download.record(int(message["bytes"]))
        elif kind == "done":
            download.status = "done"
        elif kind == "error":
            download.status, download.error = "failed", str(message.get("message"))
        if download.status != "cancelled" or kind != "progress":
            self.publish(download.as_json())
        download.changed.set()

    def _drop_partial_files(self, model_id: str) -> None:
        """Our own partial blobs (`<etag>.incomplete`) stay, for the next fetch
        to resume. huggingface_hub 2's (`<etag>.<8 hex>.incomplete`, left by a
        download inside FastVideo that died) can never be resumed: they go."""
        for partial in (repo_dir(self.cache(), model_id) / "blobs").glob("*.*.incomplete"):
            partial.unlink(missing_ok=True)
