"""What the runner costs over calling FastVideo directly. Prints figures; asserts nothing.

    .venv/bin/python bench/overhead.py [--cycles 30] [--verbose]      # warm: a loaded worker
    .venv/bin/python bench/overhead.py --cold [--repeats 3]           # cold: from process spawn
    python3 bench/overhead.py --gpu [--cycles 10]                     # on a GPU machine
    ./scripts/gpu-check.sh --overhead [--cycles 10]                   # the same, after gpu-check's set-up
    .venv-fastvideo/bin/python bench/overhead.py --gpu --cpu-dry-run  # the --gpu path here, on the CPU

The real fastvideo 0.2.1 and the tiny random-weight Wan 2.1 T2V checkpoint
(tests/real_fastvideo/build_tiny_wan.py, built into a temporary offline
HF_HOME, or --hf-home to reuse one), one job: Wan-AI/Wan2.1-T2V-1.3B-Diffusers,
64x64, 5 frames, 3 steps, seed 7 (--size/--frames/--steps/--seed change it).
Here the server and the direct process run in the real-FastVideo environment
(.venv-fastvideo, made by ./scripts/fastvideo-env.sh) with the tests' CPU
shims (tests/real_fastvideo/site) on PYTHONPATH, so the server's `--gpus 0` is
this CPU; the bench itself may run under .venv (it needs httpx and psutil).
With --gpu everything runs under the bench's own interpreter and nothing is
shimmed: `--gpus 0` is a real GPU (--cpu-dry-run puts the shims back, to try
that path here).

The direct side is what a user would write: `VideoGenerator.from_pretrained`
then `generate_video(prompt, output_path=..., save_video=True,
return_frames=False, ...)` with the keyword arguments the server's backend
passes for the same job (backends/fastvideo.py's load_kwargs and
sampling_kwargs of the server's own stored job), and without
FASTVIDEO_STAGE_LOGGING (our worker sets it: its cost is ours; --stage-logging
sets it in the direct process too, to see how much of the difference it is).

Warm (the default). A server is started (`--gpus 0`, a fresh data dir) and one
untimed job loads the model into its worker; a long-lived direct process loads
the model once and makes one untimed video; then --warmup untimed pairs (the
first calls on either side are slower). Then --cycles times, one after the
other so both see the same machine: one direct generate_video, then one
identical job through the HTTP API (POST /api/jobs with "start": true). The
client learns that a job completed from GET /api/events (held open for the
whole run), never by polling. Printed, medians over the cycles:
- direct: the generate_video call's wall time, timed inside the direct process
  (time.perf_counter around the call);
- server: from just before the POST until the bench's event-stream reader saw
  the job's `updated` event with status `completed`;
- overhead: the median of the per-cycle differences (server - direct), the
  difference of the two medians, and the ratio server/direct of the medians;
- where the server's time goes, from the job's JSON (created_at, queued_at,
  started_at, finished_at: the server's clock) and the job's log (the worker's
  lines carry FastVideo's timestamps, to the millisecond; the server's own
  lines only to the second, so none of those is used), each segment a median:
    POST -> created_at                     the request, validation, the row written
    created_at -> started_at               queued and placed on the worker (-> queued_at shown too)
    started_at -> worker's first line      inputs resolved, the run message sent and read
    worker's first line -> FV's first line our backend before generate_video (its settings dump)
    FV's first -> last line                inside generate_video: "FV" is FastVideo's
                                           entrypoints/video_generator.py, whose last line is its
                                           "End-to-end latency"; shown beside the same figure
                                           measured in the direct process (a logging handler there)
    FV's last line -> finished_at          the poster, the settings tag, the result, the row written
    finished_at -> client saw it           the event published and read
  Segments that end or start at a log line are +-1 ms (the stamps' resolution);
  the sum of the medians need not equal the median of the sums.
- CPU time (user + system, from psutil; Linux counts it in 10 ms ticks) each
  side's processes used per job: the server process, our worker, FastVideo's
  GPU worker; the direct process and its GPU worker. On a machine with few
  cores, CPU the runner burns during a job competes with FastVideo's threads.

--cold. --repeats times, alternating which goes first: a server started on a
fresh data dir (spawn -> first 200 from GET /api/health -> a job POSTed at once
-> its `completed` event), against a fresh direct process (spawn -> import
fastvideo -> from_pretrained -> generate_video returned, the video written).
Each segment's median, and the overhead of the totals as above. The server's
segments: spawn -> health 200; -> created_at (the event stream opened, the
POST); created_at -> started_at; started_at -> the worker's "loading" line
(the worker the server spawns at its start, before any job, finishing its
import of fastvideo); -> FV's first line (from_pretrained, its GPU worker
spawned); FV's first -> last line; -> finished_at; -> seen. load_seconds is
the worker's own figure for its load, as the job's JSON gives it.

Both modes print the load average before and after: nothing else should run
meanwhile (on a 2-core machine another test run doubles some figures). Every
process the bench starts, and everything those start, is ended when it ends,
Ctrl-C included. --json PATH also writes the raw figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
SITE = ROOT / "tests" / "real_fastvideo" / "site"
BUILD_TINY_WAN = ROOT / "tests" / "real_fastvideo" / "build_tiny_wan.py"
REAL_PYTHON = ROOT / ".venv-fastvideo" / "bin" / "python"
WAN = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
PROMPT = "a red fox runs through the snow"
TERMINAL = ("completed", "failed", "stopped")
JOB_TIMEOUT_S = 600.0

# The direct side: a plain FastVideo user's script, nothing of ours imported.
# argv[1]: {"model", "prompt", "load", "sample", "environment", "cold", "out"}.
# Cold, it makes one video and answers with its times; warm, it answers once
# loaded, then makes a video for each output path read from stdin. Answers are
# JSON lines on what was its stdout; FastVideo's own output goes to stderr.
DIRECT = r'''
import json, logging, os, sys, time
started = time.time()
answer = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
job = json.loads(sys.argv[1])
from fastvideo import VideoGenerator
imported = time.time()


class Stamps(logging.Handler):
    """When generate_video logged (FastVideo's entrypoints/video_generator.py)."""

    def __init__(self):
        super().__init__()
        self.times = []

    def emit(self, record):
        if record.filename == "video_generator.py":
            self.times.append(record.created)


stamps = Stamps()
logging.getLogger("fastvideo").addHandler(stamps)
for name, value in job["environment"].items():
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
generator = VideoGenerator.from_pretrained(job["model"], **job["load"])
loaded = time.time()


def generate(path):
    stamps.times.clear()
    begun = time.time()
    clock = time.perf_counter()
    generator.generate_video(job["prompt"], output_path=path, save_video=True, return_frames=False, **job["sample"])
    wall = time.perf_counter() - clock
    lines = [min(stamps.times), max(stamps.times)] if stamps.times else None
    return {"wall_s": wall, "begun": begun, "done": begun + wall, "lines": lines}


def device():
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"


times = {"started": started, "imported": imported, "loaded": loaded, "device": device()}
if job["cold"]:
    answer.write(json.dumps(dict(generate(job["out"]), **times)) + "\n")
else:
    answer.write(json.dumps(times) + "\n")
    for line in sys.stdin:
        answer.write(json.dumps(generate(line.strip())) + "\n")
generator.shutdown()
'''


# -- processes -------------------------------------------------------------------


class Child:
    """A process the bench started, in a session of its own (a Ctrl-C reaches
    only the bench, which then ends it); close() ends it and all it started."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path, stdin: bool = False,
                 answers: bool = False) -> None:
        self.log_path = log
        self._log = open(log, "ab")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(command, env=env, start_new_session=True,
                                     stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE if answers else self._log, stderr=self._log)

    def tail(self, chars: int = 4000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def close(self, grace_s: float = 20.0, graceful: bool = True) -> None:
        """End it: by closing its stdin where it reads one (`graceful`), else by SIGTERM, then SIGKILL; then
        every process left in its session or in a session one of its descendants started (a server's
        workers have their own), so even one spawned while it was ending goes too."""
        sessions = self._sessions()
        if graceful and self.proc.stdin is not None and self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # the direct process's way out: shutdown(), then exit
                self.proc.wait(grace_s)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        sweep(sessions | self._sessions())
        self._log.close()

    def _sessions(self) -> set[int]:
        found = {self.proc.pid}  # start_new_session: its session's id is its pid
        try:
            family = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            family = []
        for process in family:
            try:
                found.add(os.getsid(process.pid))
            except OSError:
                pass
        found.discard(os.getsid(0))
        return found


def sweep(sessions: set[int]) -> None:
    """SIGKILL every process in these sessions (ids of sessions our children started, never the bench's)."""
    left = []
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) in sessions:
                process.kill()
                left.append(process)
        except (OSError, psutil.NoSuchProcess):
            pass
    psutil.wait_procs(left, timeout=10)


def role(process: psutil.Process) -> str:
    """Which part a process of ours plays, by its command line."""
    command = " ".join(process.cmdline())
    if "fastvideo_ui.workers.main" in command:
        return "our worker"
    if "multiprocessing.spawn" in command:
        return "FastVideo's GPU worker"
    if "resource_tracker" in command:
        return "other"
    return "the process"


class CpuMeter:
    """CPU time (user + system) a process tree has used so far, by role; sampled around a job."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)

    def sample(self) -> dict[str, float]:
        used: dict[str, float] = {}
        for process in [self.root, *self.root.children(recursive=True)]:
            try:
                times = process.cpu_times()
                name = "the process" if process.pid == self.root.pid else role(process)
                used[name] = used.get(name, 0.0) + times.user + times.system
            except psutil.NoSuchProcess:
                pass
        return used


def cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before.get(name, 0.0) for name in after}


@contextmanager
def ended_on_sigterm() -> Iterator[None]:
    """A SIGTERM unwinds like Ctrl-C, so every `finally` ends its processes."""
    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Setup:
    """Where the bench's processes come from."""

    python: str  # the server's and the direct process's interpreter
    env: dict[str, str]
    device: str  # in words, for the header


def setup(args: argparse.Namespace, hf_home: Path) -> Setup:
    shims = not args.gpu or args.cpu_dry_run
    python = args.python or (sys.executable if args.gpu else str(REAL_PYTHON))
    if not Path(python).exists():
        sys.exit(f"{python} is missing: run ./scripts/fastvideo-env.sh (or pass --python)")
    paths = [str(SRC), str(SITE) if shims else "", os.environ.get("PYTHONPATH", "") if args.gpu else ""]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, paths)), HF_HOME=str(hf_home),
               HF_HUB_OFFLINE="1")
    env.pop("CUDA_VISIBLE_DEVICES", None)
    env.pop("FASTVIDEO_STAGE_LOGGING", None)  # a user's plain call; our worker sets it for itself
    device = "the CPU, with the tests' CPU shims" if shims else "the GPU, nothing shimmed"
    return Setup(python, env, device)


def build_checkpoint(python: str, env: dict[str, str], hf_home: Path) -> None:
    if (hf_home / "hub" / ("models--" + WAN.replace("/", "--"))).is_dir():
        return
    started = time.monotonic()
    done = subprocess.run([python, str(BUILD_TINY_WAN), str(hf_home)], env=env, capture_output=True, text=True,
                          timeout=600)
    if done.returncode:
        sys.exit(f"building the tiny checkpoint failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    print(f"tiny checkpoint built in {time.monotonic() - started:.1f} s", flush=True)


# -- the server ------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """A job's end as the event stream delivered it."""

    clock: float  # time.perf_counter() in the bench
    wall: float  # time.time()
    job: dict[str, Any]


class Completions:
    """GET /api/events, read in a thread for as long as the server runs: when
    each job's terminal `updated` event arrived."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._seen: dict[str, Seen] = {}
        self._changed = threading.Condition()
        self._connected = threading.Event()
        self._ended: str | None = None
        self._thread = threading.Thread(target=self._read, name="events", daemon=True)

    def start(self, timeout_s: float = 30.0) -> None:
        self._thread.start()
        if not self._connected.wait(timeout_s) or self._ended:
            sys.exit(f"the event stream did not open: {self._ended or 'no answer'}")

    def _read(self) -> None:
        try:
            with httpx.stream("GET", f"{self.url}/api/events", timeout=httpx.Timeout(30.0, read=None)) as response:
                response.raise_for_status()
                kind, data = "", []
                for line in response.iter_lines():
                    self._connected.set()
                    if line.startswith("event:"):
                        kind = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].removeprefix(" "))
                    elif not line:
                        self._dispatch(kind, "\n".join(data))
                        kind, data = "", []
        except httpx.HTTPError as exc:
            self._ended = f"{type(exc).__name__}: {exc}"
        finally:
            self._ended = self._ended or "the stream ended"
            self._connected.set()
            with self._changed:
                self._changed.notify_all()

    def _dispatch(self, kind: str, data: str) -> None:
        if kind != "updated" or not data:
            return
        job = json.loads(data)
        if job.get("status") in TERMINAL:
            seen = Seen(time.perf_counter(), time.time(), job)
            with self._changed:
                self._seen[job["id"]] = seen
                self._changed.notify_all()

    def wait(self, job_id: str, timeout_s: float = JOB_TIMEOUT_S) -> Seen:
        with self._changed:
            self._changed.wait_for(lambda: job_id in self._seen or self._ended is not None, timeout_s)
            if job_id not in self._seen:
                sys.exit(f"job {job_id}: no end seen on the event stream ({self._ended or 'timed out'})")
            return self._seen.pop(job_id)


class Server:
    """`python -m fastvideo_ui.server --gpus 0` on a fresh data dir, its events followed."""

    def __init__(self, where: Setup, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        data_dir.mkdir(parents=True)
        self.spawned = time.time()
        self.child = Child([where.python, "-m", "fastvideo_ui.server", "--port", str(self.port), "--data-dir",
                            str(data_dir), "--gpus", "0"], where.env, data_dir / "server.out")
        self.client = httpx.Client(base_url=self.url, timeout=30)
        self.events = Completions(self.url)

    def wait_healthy(self, timeout_s: float = 120.0) -> float:
        """Poll GET /api/health (nothing to listen to before the server listens): when it answered 200."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.child.proc.poll() is not None:
                sys.exit(f"the server exited with {self.child.proc.returncode}:\n{self.child.tail()}")
            try:
                if self.client.get("/api/health").status_code == 200:
                    return time.time()
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                sys.exit(f"the server did not answer in {timeout_s:.0f} s:\n{self.child.tail()}")
            time.sleep(0.01)

    def run_job(self, body: dict[str, Any], meter: CpuMeter | None = None) -> ServerRun:
        """POST the job with "start": true; its end from the event stream, then its JSON and log. With
        `meter`, the CPU time the server's processes used from just before the POST until the end was seen."""
        before = meter.sample() if meter else {}
        posted_wall, posted = time.time(), time.perf_counter()
        response = self.client.post("/api/jobs", json=body | {"start": True})
        if response.status_code != 201:
            sys.exit(f"creating the job failed: {response.status_code} {response.text}")
        seen = self.events.wait(response.json()["id"])
        cpu = cpu_used(before, meter.sample()) if meter else {}
        job = self.client.get(f"/api/jobs/{seen.job['id']}").json()
        lines = self.client.get(f"/api/jobs/{job['id']}/logs").json()["lines"]
        if job["status"] != "completed":
            sys.exit(f"job {job['id']} ended {job['status']}: {job['error']}\n" + "\n".join(lines[-40:]))
        return ServerRun(posted_wall, seen.clock - posted, seen.wall, job, lines, cpu)

    def close(self) -> None:
        self.client.close()
        self.child.close()


# -- the direct process ----------------------------------------------------------


def direct_env(where: Setup, stage_logging: bool) -> dict[str, str]:
    """The direct process's environment: the server's, without FASTVIDEO_STAGE_LOGGING unless asked."""
    return where.env | ({"FASTVIDEO_STAGE_LOGGING": "1"} if stage_logging else {})


def direct_job(job: dict[str, Any], cold: bool, out: Path) -> dict[str, Any]:
    """The direct process's instructions: the keyword arguments our backend
    gives FastVideo for this job, from the server's own record of it."""
    if str(SRC) not in sys.path:
        sys.path.insert(0, str(SRC))
    from fastvideo_ui.backends.base import ModelConfig
    from fastvideo_ui.backends.fastvideo import load_environment, load_kwargs, sampling_kwargs
    from fastvideo_ui.spec.rules import params_of

    params = params_of(job)
    config = ModelConfig.for_params(params)
    if config.workload_type != "t2v" or params.loras or params.image:
        sys.exit("the bench compares a plain text-to-video job")
    return {"model": config.model_id, "prompt": params.prompt, "load": load_kwargs(config),
            "sample": sampling_kwargs(params), "environment": load_environment(config), "cold": cold,
            "out": str(out)}


class Direct:
    """A long-lived direct process: loaded once, a video per call."""

    def __init__(self, where: Setup, job: dict[str, Any], scratch: Path, stage_logging: bool = False) -> None:
        self.scratch = scratch
        self.calls = 0
        self.busy = True  # loading, or making a video: a close does not wait for it
        self.child = Child([where.python, "-c", DIRECT, json.dumps(direct_job(job, False, scratch))],
                           direct_env(where, stage_logging), scratch / "direct.out", stdin=True, answers=True)

    def wait_loaded(self) -> dict[str, Any]:
        """Its answer once from_pretrained returned: when it started, imported, loaded, and its device."""
        return self._answer()

    def _answer(self) -> dict[str, Any]:
        assert self.child.proc.stdout is not None
        self.busy = True
        line = self.child.proc.stdout.readline()
        if not line:
            sys.exit(f"the direct process ended:\n{self.child.tail()}")
        self.busy = False
        answer: dict[str, Any] = json.loads(line)
        return answer

    def generate(self, meter: CpuMeter | None = None) -> dict[str, Any]:
        """One video; its answer, with `meter` the CPU seconds its processes used for it (by role)."""
        assert self.child.proc.stdin is not None
        self.calls += 1
        before = meter.sample() if meter else {}
        self.child.proc.stdin.write(f"{self.scratch / f'direct-{self.calls}.mp4'}\n".encode())
        self.child.proc.stdin.flush()
        answer = self._answer()
        return answer | {"cpu": cpu_used(before, meter.sample()) if meter else {}}

    def close(self) -> None:
        self.child.close(graceful=not self.busy)


def direct_cold(where: Setup, job: dict[str, Any], scratch: Path, stage_logging: bool = False) -> dict[str, Any]:
    """A fresh process: spawn, import fastvideo, from_pretrained, one video. Its times, and when it was spawned."""
    spawned = time.time()
    child = Child([where.python, "-c", DIRECT, json.dumps(direct_job(job, True, scratch / "direct.mp4"))],
                  direct_env(where, stage_logging), scratch / "direct.out", answers=True)
    try:
        assert child.proc.stdout is not None
        line = child.proc.stdout.readline()
        if not line:
            sys.exit(f"the direct process ended:\n{child.tail()}")
        try:
            child.proc.wait(60)  # it shuts FastVideo down and exits by itself
        except subprocess.TimeoutExpired:
            pass
        return dict(json.loads(line), spawned=spawned)
    finally:
        child.close(graceful=False)  # it has answered, or failed: nothing of it is timed any more


# -- reading a job's log ------------------------------------------------------------

# FastVideo's log format, which our worker's lines share: "INFO 12-06 12:02:48.265 [main.py:194] ...",
# local time, to the millisecond, with no year. A GPU worker's lines carry a coloured "(Worker pid=N)" first.
STAMP = re.compile(r"\b(?:DEBUG|INFO|WARNING|ERROR|CRITICAL) (\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{3}) "
                   r"\[([\w.]+):\d+\] ?(.*)")


@dataclass(frozen=True)
class Stamped:
    at: float  # epoch seconds
    source: str  # the logging file's name
    text: str


def stamped_lines(lines: Sequence[str], year: int) -> list[Stamped]:
    found = []
    for line in lines:
        match = STAMP.search(line)
        if match:
            month, day, hour, minute, second, millis = (int(part) for part in match.groups()[:6])
            at = time.mktime((year, month, day, hour, minute, second, 0, 0, -1)) + millis / 1000
            found.append(Stamped(at, match.group(7), match.group(8)))
    return found


@dataclass
class ServerRun:
    posted: float  # time.time() just before the POST
    wall_s: float  # POST -> the completed event, by time.perf_counter()
    seen: float  # time.time() when the completed event was read
    job: dict[str, Any]
    lines: list[str]
    cpu: dict[str, float]  # CPU seconds by role, POST -> seen
    marks: dict[str, float | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        stamps = stamped_lines(self.lines, time.localtime(self.job["started_at"]).tm_year)
        ours = [s for s in stamps if s.source == "fastvideo.py" and s.text.startswith("loading ")]
        fastvideo = [s.at for s in stamps if s.source == "video_generator.py"]
        self.marks = {
            "posted": self.posted, "created": self.job["created_at"], "queued": self.job["queued_at"],
            "started": self.job["started_at"], "worker": stamps[0].at if stamps else None,
            "loading": ours[0].at if ours else None, "fv_first": min(fastvideo, default=None),
            "fv_last": max(fastvideo, default=None), "finished": self.job["finished_at"], "seen": self.seen,
        }

    def between(self, start: str, end: str) -> float | None:
        a, b = self.marks[start], self.marks[end]
        return None if a is None or b is None else b - a


# -- figures ---------------------------------------------------------------------------


def median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def ms(value: float | None, width: int = 8) -> str:
    return f"{'n/a':>{width}}" if value is None else f"{value * 1000:{width}.1f}"


def seconds(value: float | None, width: int = 7) -> str:
    return f"{'n/a':>{width}}" if value is None else f"{value:{width}.2f}"


def overhead_line(server: Sequence[float], direct: Sequence[float], unit: Callable[[float | None], str],
                  name: str) -> str:
    paired = statistics.median(s - d for s, d in zip(server, direct, strict=True))
    apart = statistics.median(server) - statistics.median(direct)
    ratio = statistics.median(server) / statistics.median(direct)
    return (f"overhead: median of the per-{name} differences {unit(paired).strip()}, difference of the medians "
            f"{unit(apart).strip()}; ratio server/direct x{ratio:.3f}")


WARM_SEGMENTS = (
    ("POST -> created_at", "posted", "created"),
    ("created_at -> started_at", "created", "started"),
    ("  (created_at -> queued_at)", "created", "queued"),
    ("started_at -> worker's first line", "started", "worker"),
    ("worker's first line -> FV's first line", "worker", "fv_first"),
    ("FV's first -> last line", "fv_first", "fv_last"),
    ("FV's last line -> finished_at", "fv_last", "finished"),
    ("finished_at -> client saw it", "finished", "seen"),
)
SUMMED = [segment for segment in WARM_SEGMENTS if not segment[0].startswith(" ")]


def print_warm(args: argparse.Namespace, direct: list[dict[str, Any]], server: list[ServerRun]) -> None:
    direct_s = [d["wall_s"] for d in direct]
    server_s = [s.wall_s for s in server]
    if args.verbose:
        for index, (d, s) in enumerate(zip(direct_s, server_s, strict=True), 1):
            print(f"cycle {index:3d}: direct {ms(d)} ms, server {ms(s)} ms, difference {ms(s - d)} ms")
    print(f"direct generate_video:      median {ms(median(direct_s))} ms (min {ms(min(direct_s), 0)}, "
          f"max {ms(max(direct_s), 0)})")
    print(f"server job, POST -> seen:   median {ms(median(server_s))} ms (min {ms(min(server_s), 0)}, "
          f"max {ms(max(server_s), 0)})")
    print(overhead_line(server_s, direct_s, lambda v: f"{ms(v, 0)} ms", "cycle"))
    print("where the server's time goes (ms, medians over the cycles):")
    for label, start, end in WARM_SEGMENTS:
        print(f"  {label:42s} {ms(median([s.between(start, end) for s in server]))}")
    total = sum(median([s.between(start, end) for s in server]) or 0.0 for _, start, end in SUMMED)
    print(f"  {'sum of the segments above':42s} {ms(total)}")
    direct_lines = [d["lines"][1] - d["lines"][0] if d["lines"] else None for d in direct]
    before = [d["lines"][0] - d["begun"] if d["lines"] else None for d in direct]
    after = [d["done"] - d["lines"][1] if d["lines"] else None for d in direct]
    print("the direct process, for comparison (ms, medians):")
    print(f"  {'generate_video called -> FV first line':42s} {ms(median(before))}")
    print(f"  {'FV first -> last line':42s} {ms(median(direct_lines))}")
    print(f"  {'FV last line -> generate_video returned':42s} {ms(median(after))}")
    print("CPU time used per job, user + system (ms, medians; the direct side's is its call, the server's "
          "POST -> seen):")
    print_cpu("server", [s.cpu for s in server])
    print_cpu("direct", [d["cpu"] for d in direct])


def print_cpu(side: str, runs: Sequence[dict[str, float]]) -> None:
    roles = sorted({name for run in runs for name in run if name != "other"})
    parts = [f"{name} {ms(median([run.get(name) for run in runs]), 0)}" for name in roles]
    total = median([sum(run.values()) for run in runs])
    print(f"  {side}: {', '.join(parts)}; all its processes {ms(total, 0)}")


def warm(args: argparse.Namespace, where: Setup, scratch: Path, body: dict[str, Any]) -> dict[str, Any]:
    with ExitStack() as stack:
        server = Server(where, scratch / "server")
        stack.callback(server.close)
        server.wait_healthy()
        server.events.start()
        first = server.run_job(body)
        print(f"warm-up job (the worker started, the model loaded): {first.wall_s:.1f} s, "
              f"load_seconds {first.job['load_seconds']}", flush=True)
        direct = Direct(where, first.job, scratch, args.stage_logging)
        stack.callback(direct.close)
        ready = direct.wait_loaded()
        print(f"direct process loaded in {ready['loaded'] - ready['started']:.1f} s on "
              f"{ready['device']}; its first video (untimed) in {direct.generate()['wall_s']:.2f} s",
              flush=True)
        if args.gpu and not args.cpu_dry_run and ready["device"] == "cpu":
            print("warning: --gpu, but the direct process sees no CUDA device", flush=True)
        for _ in range(args.warmup):  # the first few calls on each side are slower (allocators, caches)
            direct.generate()
            server.run_job(body)
        direct_meter, server_meter = CpuMeter(direct.child.proc.pid), CpuMeter(server.child.proc.pid)
        direct_runs, server_runs = [], []
        for _ in range(args.cycles):
            direct_runs.append(direct.generate(direct_meter))
            server_runs.append(server.run_job(body, server_meter))
        print_warm(args, direct_runs, server_runs)
        return {"direct": direct_runs,
                "server": [{"wall_s": s.wall_s, "marks": s.marks, "cpu": s.cpu} for s in server_runs]}


# -- cold -----------------------------------------------------------------------------

COLD_SERVER = (
    ("spawn -> GET /api/health 200", "spawned", "healthy"),
    ("health -> created_at (stream opened, POST)", "healthy", "created"),
    ("created_at -> started_at", "created", "started"),
    ("started_at -> worker's \"loading\" line", "started", "loading"),
    ("\"loading\" -> FV's first line", "loading", "fv_first"),
    ("FV's first -> last line", "fv_first", "fv_last"),
    ("FV's last line -> finished_at", "fv_last", "finished"),
    ("finished_at -> client saw it", "finished", "seen"),
    ("spawn -> first video, total", "spawned", "seen"),
)
COLD_DIRECT = (
    ("spawn -> fastvideo imported", "spawned", "imported"),
    ("-> from_pretrained returned", "imported", "loaded"),
    ("-> generate_video returned (video written)", "loaded", "done"),
    ("  (of which FV's first -> last line)", "fv_first", "fv_last"),
    ("spawn -> video written, total", "spawned", "done"),
)


def server_cold(where: Setup, scratch: Path, body: dict[str, Any]) -> dict[str, Any]:
    server = Server(where, scratch)
    try:
        healthy = server.wait_healthy()
        server.events.start()
        run = server.run_job(body)
        return dict(run.marks, spawned=server.spawned, healthy=healthy, load_seconds=run.job["load_seconds"],
                    job=run.job)
    finally:
        server.close()


def cold(args: argparse.Namespace, where: Setup, scratch: Path, body: dict[str, Any]) -> dict[str, Any]:
    servers: list[dict[str, Any]] = []
    directs: list[dict[str, Any]] = []
    job: dict[str, Any] | None = None
    for repeat in range(args.repeats):
        order = ("server", "direct") if repeat % 2 == 0 or job is None else ("direct", "server")
        for side in order:
            where_to = scratch / f"{side}-{repeat}"
            if side == "server":
                servers.append(server_cold(where, where_to, body))
                job = job or servers[-1]["job"]
            else:
                assert job is not None
                where_to.mkdir()
                run = direct_cold(where, job, where_to, args.stage_logging)
                directs.append(dict(run, fv_first=(run["lines"] or [None])[0], fv_last=(run["lines"] or [None])[-1]))
        s, d = servers[-1], directs[-1]
        print(f"repeat {repeat + 1}: server {s['seen'] - s['spawned']:.2f} s to the first video (health at "
              f"{s['healthy'] - s['spawned']:.2f} s), direct {d['done'] - d['spawned']:.2f} s on {d['device']}",
              flush=True)
    print(f"cold, medians over {args.repeats} (s):")
    print("  server:")
    for label, start, end in COLD_SERVER:
        print(f"    {label:44s} {seconds(median([gap(s, start, end) for s in servers]))}")
    loads = median([s["load_seconds"] for s in servers])
    print(f"    {'(load_seconds: the worker timing its load)':44s} {seconds(loads)}")
    print("  direct:")
    for label, start, end in COLD_DIRECT:
        print(f"    {label:44s} {seconds(median([gap(d, start, end) for d in directs]))}")
    print(overhead_line([s["seen"] - s["spawned"] for s in servers], [d["done"] - d["spawned"] for d in directs],
                        lambda v: f"{seconds(v, 0)} s", "repeat"))
    return {"server": [{k: v for k, v in s.items() if k != "job"} for s in servers], "direct": directs}


def gap(marks: dict[str, Any], start: str, end: str) -> float | None:
    a, b = marks.get(start), marks.get(end)
    return None if a is None or b is None else float(b) - float(a)


# -- main ------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--cold", action="store_true", help="from process spawn, not on a loaded worker")
    parser.add_argument("--cycles", type=int, help="warm: direct/server pairs (default 30; 10 with --gpu)")
    parser.add_argument("--warmup", type=int, default=2, help="warm: untimed pairs first (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="cold: server/direct pairs (default 3)")
    parser.add_argument("--gpu", action="store_true", help="on a GPU machine: the bench's interpreter, no shims")
    parser.add_argument("--cpu-dry-run", action="store_true", help="with --gpu: keep the CPU shims, to try it here")
    parser.add_argument("--python", help="the server's and the direct process's interpreter")
    parser.add_argument("--hf-home", type=Path, help="reuse (or build once into) this HF_HOME")
    parser.add_argument("--size", default="64x64", help="WIDTHxHEIGHT (default 64x64)")
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--stage-logging", action="store_true",
                        help="set FASTVIDEO_STAGE_LOGGING=1 in the direct process too, as our worker does")
    parser.add_argument("--verbose", action="store_true", help="warm: each cycle's figures too")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args(argv)
    if args.cpu_dry_run and not args.gpu:
        parser.error("--cpu-dry-run goes with --gpu")
    if args.cycles is None:
        args.cycles = 10 if args.gpu else 30
    if args.cycles < 1 or args.repeats < 1:
        parser.error("--cycles and --repeats are at least 1")
    return args


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def job_body(args: argparse.Namespace) -> dict[str, Any]:
    width, _, height = args.size.partition("x")
    return {"model_id": WAN, "prompt": PROMPT, "width": int(width), "height": int(height),
            "num_frames": args.frames, "num_inference_steps": args.steps, "seed": args.seed}


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    body = job_body(args)
    scratch = Path(tempfile.mkdtemp(prefix="overhead-bench-"))
    try:
        with ended_on_sigterm():
            hf_home = args.hf_home or scratch / "hf"
            where = setup(args, hf_home)
            build_checkpoint(where.python, where.env, hf_home)
            print(f"{'cold' if args.cold else 'warm'}: {WAN} {args.size}, {args.frames} frames, {args.steps} steps, "
                  f"seed {args.seed}, on {where.device}; {where.python}", flush=True)
            print(f"load average before: {load_average()}", flush=True)
            figures = cold(args, where, scratch, body) if args.cold else warm(args, where, scratch, body)
            print(f"load average after: {load_average()} (on {os.cpu_count()} CPUs; anything else running "
                  f"shows in the figures)")
            if args.json:
                args.json.write_text(json.dumps(figures, indent=1))
    except KeyboardInterrupt:
        print("interrupted: every process the bench started is ended", file=sys.stderr)
        sys.exit(130)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
