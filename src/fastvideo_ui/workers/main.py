"""Worker process entry point: `python -m fastvideo_ui.workers.main --fd N`.

It keeps one backend and its loaded model between jobs, runs one job at a time,
and listens for `stop` while a job runs. If the server goes away (the socket
closes), it kills its own process group: a worker never outlives its server.
"""

from __future__ import annotations

import argparse
import logging
import os
import queue
import signal
import socket
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from ..backends.base import GenerationRequest, GenerationResult, ModelConfig, StopRequested
from ..backends.registry import backend_spec
from ..oserrors import describe_error, describe_no_space
from . import protocol

PROGRESS_INTERVAL_S = 0.1


class Channel:
    """The worker's end of the socketpair."""

    def __init__(self, fd: int) -> None:
        self.sock = socket.socket(fileno=fd)
        self.sock.set_inheritable(False)
        self._reader = self.sock.makefile("rb")
        self._lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        with self._lock:
            self.sock.sendall(protocol.encode(message))

    def receive(self) -> dict[str, Any] | None:
        line = self._reader.readline()
        return protocol.decode(line) if line else None


class JobReporter:
    """Hands a backend's progress to the server, and its stop requests back.

    Each report costs the server a write and an event, and a short job moves
    through half a dozen phases in a few milliseconds: so at most one progress
    message goes per interval, carrying what changed since the last (the phase,
    the step). The first step goes at once (it gives the job its ETA), so does
    the last (the job keeps it), and what is held goes when the interval ends,
    so a run that pauses still shows it.
    """

    def __init__(self, channel: Channel, run_id: str, stop_requested: set[str]) -> None:
        self.channel = channel
        self.run_id = run_id
        self.stop_requested = stop_requested
        self._last_sent = float("-inf")
        self._held: dict[str, Any] = {}  # what changed and is not sent yet
        self._closed = False
        self._phase_at = time.monotonic()
        self._lock = threading.Lock()  # the backend reports from its own threads too

    def phase(self, name: str) -> None:
        self._phase_at = time.monotonic()
        self._report({"phase": name})

    def step(self, index: int, total: int) -> None:
        """With the seconds since its phase began, measured here: the phase may have been held, and the
        server's ETA is that time per step."""
        self._report({"step": index, "total": total, "elapsed": round(time.monotonic() - self._phase_at, 3)},
                     at_once=index in (1, total))

    def _report(self, change: dict[str, Any], at_once: bool = False) -> None:
        with self._lock:
            if self._closed:
                return
            self._held.update(change)
            wait = self._last_sent + PROGRESS_INTERVAL_S - time.monotonic()
            if at_once or wait <= 0:
                self._send_held()
                return
        _FLUSHER.due(self, time.monotonic() + wait)

    def flush(self) -> None:
        with self._lock:
            if not self._closed:
                self._send_held()

    def _send_held(self) -> None:
        """Under the lock: the messages leave in the order they were made."""
        if self._held:
            self._last_sent = time.monotonic()
            message, self._held = {"type": "progress", **self._held}, {}
            self.channel.send(message)

    def close(self) -> None:
        """The run ended: what is held is out of date (its end says it all), and
        must not reach the server as the next run's progress."""
        with self._lock:
            self._closed = True

    def warn(self, text: str) -> None:
        self.channel.send({"type": "warning", "text": text})

    def check_stop(self) -> None:
        if self.run_id in self.stop_requested:
            raise StopRequested()


class _Flusher:
    """One thread that sends what each reporter holds when its interval ends (a
    timer thread per held report cost a thread's start every time)."""

    def __init__(self) -> None:
        self._due: dict[JobReporter, float] = {}
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def due(self, reporter: JobReporter, at: float) -> None:
        with self._changed:
            self._due[reporter] = min(at, self._due.get(reporter, at))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="progress-flusher", daemon=True)
                self._thread.start()
            self._changed.notify()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._due:
                    self._changed.wait()
                reporter, at = min(self._due.items(), key=lambda item: item[1])
                wait = at - time.monotonic()
                if wait > 0:
                    self._changed.wait(wait)
                    continue
                del self._due[reporter]
            reporter.flush()


_FLUSHER = _Flusher()


def make_backend(name: str):  # type: ignore[no-untyped-def]
    return backend_spec(name).build()


def _die_with_group() -> None:
    try:
        os.killpg(os.getpgid(0), signal.SIGKILL)
    finally:
        os._exit(1)


def listen(channel: Channel, commands: queue.Queue, worker: "Worker") -> None:
    """Reader thread: stop requests act at once, everything else is queued."""
    while True:
        try:
            message = channel.receive()
        except (OSError, ValueError):
            message = None
        if message is None:
            _die_with_group()  # the server is gone
            return
        if message["type"] == "stop":
            # Keyed by job: a stop that crosses its job's end on the wire must
            # not stop the next job, and one that overtakes its job's start must
            # still stop it.
            run_id = str(message.get("run_id"))
            worker.stop_requested.add(run_id)
            if run_id == worker.current_run and not getattr(worker.backend, "cooperative_stop", True):
                # Nothing to wait for: a backend that cannot stop between steps
                # (FastVideo) is stopped by ending its whole process tree now.
                _die_with_group()
        else:
            commands.put(message)


class Worker:
    def __init__(self, channel: Channel, nonce: str) -> None:
        self.channel = channel
        self.nonce = nonce  # marks this worker's log markers (protocol.py)
        self.stop_requested: set[str] = set()
        self.backend: Any = None
        self.backend_name: str | None = None
        self.loaded: ModelConfig | None = None
        self.current_run: str | None = None
        self.registry_owed = False  # the server asked for the library's registry, once no job waits

    def run_job(self, message: dict[str, Any]) -> None:
        try:
            run = protocol.RunJob.decode(message)
        except protocol.BadMessage as exc:
            self._refuse(message, exc)
            return
        job_id = run.job_id
        sys.stdout.write(protocol.begin_marker(self.nonce, job_id))
        sys.stdout.flush()
        run_id = run.run_id
        self.current_run = run_id
        if run_id in self.stop_requested and not getattr(self.backend, "cooperative_stop", True):
            _die_with_group()
        reporter = JobReporter(self.channel, run_id, self.stop_requested)
        try:
            result = self._generate(run, reporter)
            outcome = {
                "type": "completed",
                "video_path": str(result.video_path),
                "poster_path": str(result.poster_path) if result.poster_path else None,
            }
        except StopRequested:
            logging.getLogger("fastvideo_ui.worker").info("stopped at the user's request")
            outcome = {"type": "stopped"}
        except BaseException as exc:  # noqa: BLE001 - reported, never swallowed
            traceback.print_exc()
            outcome = {"type": "failed", "error": self._explain(exc)}
        finally:
            reporter.close()
            self.current_run = None
            self.stop_requested.discard(run_id)
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout.write(protocol.end_marker(self.nonce, job_id))
        sys.stdout.flush()
        self.channel.send(outcome)
        if outcome["type"] == "failed":
            self._unload()  # a failure may leave the model in a bad state

    def _generate(self, run: protocol.RunJob, reporter: JobReporter):  # type: ignore[no-untyped-def]
        config = run.model
        request = GenerationRequest(job_id=run.job_id, params=run.params, output_path=run.output_path,
                                    poster_path=run.poster_path, uploads=run.uploads, resolved=run.resolved)
        if self.backend_name != run.backend or (self.loaded is not None and self.loaded != config):
            self._unload()
            self.backend = make_backend(run.backend)
            self.backend_name = run.backend
        if self.loaded != config:  # a prepared worker has its backend, and nothing loaded yet
            started = time.monotonic()
            self.backend.load(config, reporter, first=request)
            self.loaded = config
            self.channel.send({"type": "loaded", "model": config.as_json(),
                               "seconds": round(time.monotonic() - started, 3)})
        else:
            logging.getLogger("fastvideo_ui.worker").info(
                "reusing the loaded model %s", config.model_id)
        reporter.check_stop()
        result = self.backend.generate(request, reporter)
        return self._finish(request, result)

    def prepare(self, message: dict[str, Any]) -> None:
        """Before any job: the backend built and its library imported (FastVideo's
        import takes seconds), so the first job only loads its model."""
        name = str(message.get("backend"))
        started = time.monotonic()
        try:
            self.backend = make_backend(name)
            self.backend_name = name
            prepare = getattr(self.backend, "prepare", None)
            if prepare is not None:
                prepare()
        except Exception:  # noqa: BLE001 - the first job's own load will fail, and say why
            traceback.print_exc()
            self._unload()
        self.channel.send({"type": "prepared", "backend": name, "ok": self.backend is not None,
                           "seconds": round(time.monotonic() - started, 3)})
        self.registry_owed = bool(message.get("registry"))

    def send_registry(self) -> None:
        """The models the backend's library registers, read while no job waits (the
        server asked, instead of importing the library in a process of its own)."""
        self.registry_owed = False
        read = getattr(self.backend, "registry", None)
        try:
            models = read() if read is not None else None
        except Exception as exc:  # noqa: BLE001 - the server keeps its built-in catalogue
            traceback.print_exc()
            self.channel.send({"type": "registry", "models": None, "error": describe_error(exc)})
            return
        self.channel.send({"type": "registry", "models": models})

    def _refuse(self, message: dict[str, Any], problem: protocol.BadMessage) -> None:
        """A run message that cannot be read fails its run, saying why (in the
        job's log too, when the message names its job), and the worker goes on."""
        job_id = message.get("job_id")
        marked = isinstance(job_id, str) and bool(job_id)
        if marked:
            sys.stdout.write(protocol.begin_marker(self.nonce, str(job_id)))
            sys.stdout.flush()
        print(f"fastvideo-ui worker: {problem}", file=sys.stderr, flush=True)
        if marked:
            sys.stdout.write(protocol.end_marker(self.nonce, str(job_id)))
        sys.stdout.flush()
        self.channel.send({"type": "failed", "error": str(problem)})

    @staticmethod
    def _finish(request: GenerationRequest, result: GenerationResult) -> GenerationResult:
        """Every backend's video carries its settings, whoever wrote the file,
        and a poster: the backend's own, else its middle frame, decoded in the
        same read of the file as the tagging. A video that cannot be tagged is
        still the job's result: the GPU time is spent, and the file is whole
        (tagging writes a copy, then swaps); nor does a missing poster fail it."""
        worker_log = logging.getLogger("fastvideo_ui.worker")
        poster = None if result.poster_path else request.poster_path
        try:
            # Imported here, as the FastVideo backend imports PyAV: it may be absent (the GPU check).
            from .. import __version__
            from ..backends import settings_tag
            from ..backends.media import tag_mp4

            settings = settings_tag.settings_json(request.params, request.job_id, __version__)
            no_poster = tag_mp4(result.video_path, {"comment": settings_tag.encode(settings),
                                                    "title": request.params.prompt[:200]}, poster)
        except Exception as exc:  # noqa: BLE001 - see above
            worker_log.warning("the video does not carry its settings: %s", exc)
            no_poster = Worker._poster_alone(result.video_path, poster)
        if poster is None:
            return result
        if no_poster is not None:
            worker_log.warning("no poster: %s", no_poster)
            return result
        return GenerationResult(result.video_path, poster)

    @staticmethod
    def _poster_alone(video: Path, poster: Path | None) -> str | None:
        """A poster where the tagging that draws one failed (a tag writes a copy of the whole video: a
        nearly full disk may refuse it and still take a JPEG); why there is none, else None."""
        if poster is None:
            return None
        try:
            from ..backends.media import poster_from_video

            poster_from_video(video, poster)
        except Exception as exc:  # noqa: BLE001 - the video is the result; the poster is not
            return str(exc)
        return None

    def _explain(self, exc: BaseException) -> str:
        no_space = describe_no_space(exc)
        if no_space:
            return no_space
        explain = getattr(self.backend, "explain_error", None)
        if explain is not None:
            try:
                return explain(exc) or describe_error(exc)
            except Exception:  # noqa: BLE001
                traceback.print_exc()
        return describe_error(exc)

    def _unload(self) -> None:
        if self.backend is not None:
            try:
                self.backend.unload()
            except Exception:  # noqa: BLE001
                traceback.print_exc()
        self.backend = None
        self.backend_name = None
        self.loaded = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fastvideo_ui.workers.main")
    parser.add_argument("--fd", type=int, required=True)
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    channel = Channel(args.fd)
    commands: queue.Queue = queue.Queue()
    # Out of the environment before any model code runs (and its children inherit it).
    worker = Worker(channel, os.environ.pop(protocol.NONCE_ENV, ""))
    threading.Thread(target=listen, args=(channel, commands, worker), daemon=True).start()
    channel.send({"type": "ready", "pid": os.getpid()})
    while True:
        if worker.registry_owed and commands.empty():
            worker.send_registry()
            continue
        message = commands.get()
        if message["type"] == "run":
            worker.run_job(message)
        elif message["type"] == "prepare":
            worker.prepare(message)
        elif message["type"] == "shutdown":
            worker._unload()
            return 0


if __name__ == "__main__":
    sys.exit(main())
