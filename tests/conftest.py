"""Start the real server as a process on a free loopback port."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

PREVIEW = "fastvideo-ui/preview"
# A job that runs for minutes (about 15 ms a step here): tests stop or kill it
# long before its end.
LONG = {"num_inference_steps": 10000, "height": 512, "width": 512, "num_frames": 33}
LONG_STEPS = LONG["num_inference_steps"]


# scripts/test.sh hands whole files to xdist workers (--dist loadfile), in
# collection order. These files take the longest; starting them first keeps one
# of them from being the last thing running while the other workers sit idle.
SLOW_FILES = ("test_real_fastvideo.py", "test_ray.py", "test_faults.py", "test_gpu_check.py", "test_fuzz.py",
              "test_fastvideo_backend.py", "test_web_live.py", "test_token_strength.py")


# A test using one of these drives a browser: it is marked `browser` for it.
BROWSER_FIXTURES = frozenset({"browser", "open_page"})
# A test using one of these starts the server as a process (seconds each): `slow`.
SERVER_PROCESS_FIXTURES = frozenset({"start_server", "fastvideo"})


@pytest.hookimpl(tryfirst=True)  # before -m deselects by these marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    derive_tiers(items)

    def slowness(item: pytest.Item) -> int:
        name = item.path.name
        return SLOW_FILES.index(name) if name in SLOW_FILES else len(SLOW_FILES)

    items.sort(key=slowness)  # stable: the order within a file and among the rest is kept


def derive_tiers(items: list[pytest.Item]) -> None:
    """The quick lane's marks that follow from what a test uses, so none is
    forgotten: the real FastVideo and a server process are slow, and a browser
    is a browser test."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if ((item.get_closest_marker("real_fastvideo") or SERVER_PROCESS_FIXTURES & fixtures)
                and not item.get_closest_marker("slow")):
            item.add_marker(pytest.mark.slow)
        if BROWSER_FIXTURES & fixtures and not item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.browser)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05, what: str = "") -> Any:
    """Poll until `predicate` returns something truthy, or fail the test."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(interval)


def run_in_own_loop(coroutine: Any, timeout: float = 60) -> Any:
    """asyncio.run in a thread of its own: in the full run, the browser tests'
    Playwright keeps an event loop running in the main thread, where asyncio.run
    refuses to start another."""
    import asyncio
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result(timeout=timeout)


class Server:
    def __init__(self, data_dir: Path, args: list[str], env: dict[str, str] | None = None,
                 command_prefix: list[str] | None = None, python: str | None = None) -> None:
        self.data_dir = data_dir
        self.args = args
        self.env = env or {}
        self.command_prefix = command_prefix or []  # e.g. a namespace to run it in
        self.python = python or sys.executable
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.output = data_dir / "server.out"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Server":
        env = dict(os.environ)
        env.pop("CUDA_VISIBLE_DEVICES", None)
        env.update(self.env)
        command = [*self.command_prefix, self.python, "-m", "fastvideo_ui.server", "--port", str(self.port),
                   "--data-dir", str(self.data_dir), *self.args]
        with open(self.output, "ab") as out:
            self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        wait_for(self._healthy, timeout=30, what="the server to answer /api/health")
        return self

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.output.read_text()}")
        try:
            return self.client.get("/api/health").status_code == 200
        except httpx.HTTPError:
            return False

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    # -- API helpers ---------------------------------------------------------

    def create(self, **body: Any) -> dict[str, Any]:
        payload = {"model_id": PREVIEW, "prompt": "a red fox in the snow", "height": 64, "width": 64,
                   "num_frames": 4, "num_inference_steps": 3}
        payload.update(body)
        response = self.client.post("/api/jobs", json=payload)
        assert response.status_code == 201, response.text
        return response.json()

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.client.get(f"/api/jobs/{job_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def wait_status(self, job_id: str, *statuses: str, timeout: float = 60) -> dict[str, Any]:
        return wait_for(lambda: (job := self.job(job_id))["status"] in statuses and job,
                        timeout=timeout, what=f"job {job_id} to be {statuses}")

    def health(self) -> dict[str, Any]:
        return self.client.get("/api/health").json()

    def worker_pids(self) -> list[int]:
        return [w["pid"] for w in self.health()["workers"]]

    def log_text(self, job_id: str) -> str:
        return "\n".join(self.client.get(f"/api/jobs/{job_id}/logs").json()["lines"])


def process_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def worker_processes() -> list[psutil.Process]:
    """Every fastvideo-ui worker process on this machine still alive."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        if "fastvideo_ui.workers.main" in cmdline and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(*args: str, data_dir: Path | None = None, env: dict[str, str] | None = None,
              command_prefix: list[str] | None = None) -> Server:
        server = Server(data_dir or tmp_path / f"data{len(servers)}", list(args), env, command_prefix)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.terminate()
        server.client.close()


class InProcessServer(Server):
    """The real app under the real uvicorn configuration, served from a thread
    of the test process: for behaviour that crosses no process boundary of the
    server's own (its workers are still processes). It starts in a fraction of
    a subprocess's time. No `proc`, and no server.out: a test that kills the
    server, or reads its log output, uses `start_server`."""

    def start(self) -> "Server":
        import shutil
        import threading

        from fastvideo_ui.config import add_server_arguments, settings_from_args
        from fastvideo_ui.server import GracefulServer, listen, prepare, uvicorn_config

        # The port is bound here and held, as the server's own start does (server.listen): a port
        # free_port() found free could be taken by another test's socket before uvicorn bound it
        # (CI at 80bbbd0: "address already in use").
        self._socket = listen("127.0.0.1", 0)
        self.port = self._socket.getsockname()[1]
        self.client.base_url = httpx.URL(f"http://127.0.0.1:{self.port}")
        parser = argparse.ArgumentParser()
        add_server_arguments(parser)
        settings = settings_from_args(parser.parse_args(
            ["--port", str(self.port), "--data-dir", str(self.data_dir), *self.args]))
        if not settings.db_path.exists():
            shutil.copyfile(_template_database(), settings.db_path)
        try:
            self._lock, app = prepare(settings)
        except BaseException:
            self._socket.close()
            raise
        self._uvicorn = GracefulServer(uvicorn_config(settings, app), app)
        # uvicorn's logging config stops its records at "uvicorn"; let them reach
        # the root logger, where pytest (caplog) sees them.
        logging.getLogger("uvicorn").propagate = True
        self._thread = threading.Thread(target=self._uvicorn.run, kwargs={"sockets": [self._socket]},
                                        name=f"server-{self.port}", daemon=True)
        self._thread.start()
        wait_for(self._healthy, timeout=30, what="the in-process server to answer /api/health")
        return self

    def _healthy(self) -> bool:
        if not self._thread.is_alive():
            raise AssertionError("the in-process server stopped")
        try:
            return self.client.get("/api/health").status_code == 200
        except httpx.HTTPError:
            return False

    def kill9(self) -> None:
        raise AssertionError("an in-process server cannot be killed: use start_server")

    def terminate(self) -> None:
        uvicorn_server = getattr(self, "_uvicorn", None)
        if uvicorn_server is None:
            return
        uvicorn_server.should_exit = True
        self._thread.join(30)
        self._socket.close()
        self._lock.release()
        self._uvicorn = None


_TEMPLATE: list[Path] = []


def _template_database() -> Path:
    """A migrated, empty job database, made once per test session."""
    if not _TEMPLATE:
        from fastvideo_ui.database.engine import make_engine
        from fastvideo_ui.database.migrate import migrate

        path = Path(tempfile.mkdtemp(prefix="fastvideo-ui-template-")) / "jobs.sqlite3"
        engine = make_engine(path)
        migrate(engine)
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        _TEMPLATE.append(path)
    return _TEMPLATE[0]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = InProcessServer(tmp_path / "data", [])
    try:
        yield running.start()
    finally:
        running.terminate()
        running.client.close()


# -- the fake `fastvideo` package (tests/fake_fastvideo) ---------------------------

FAKE_FASTVIDEO = Path(__file__).parent / "fake_fastvideo"
FAKE_NVML = Path(__file__).parent / "fake_nvml"  # several GPUs' NVML, named by UUID
WAN = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
SMALL_VIDEO = {"height": 64, "width": 64, "num_frames": 5, "num_inference_steps": 4}


class FakeFastVideo:
    """A server whose workers import the fake package, and what the fake recorded."""

    def __init__(self, server: Server, record: Path) -> None:
        self.server = server
        self.record = record

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        rows = [json.loads(line) for line in self.record.read_text().splitlines() if line.strip()]
        return [row for row in rows if kind is None or row["event"] == kind]

    def create(self, model_id: str = WAN, **body: Any) -> dict[str, Any]:
        return self.server.create(model_id=model_id, **(SMALL_VIDEO | body))


def fake_fastvideo_env(record: Path, step_s: float = 0.05, nvml_uuids: str | None = None,
                       online: bool = False) -> dict[str, str]:
    """A server environment whose workers import the fake package and record into `record`."""
    paths = [str(FAKE_FASTVIDEO), str(FAKE_NVML) if nvml_uuids else "", os.environ.get("PYTHONPATH")]
    return {
        "PYTHONPATH": os.pathsep.join(filter(None, paths)),
        "FAKE_FASTVIDEO_RECORD": str(record),
        "FAKE_FASTVIDEO_STEP_S": str(step_s),
        "FAKE_NVML_UUIDS": nvml_uuids or "",
        # The fake needs no weights: offline, the server fetches none before a job
        # (online, it fetches them from HF_ENDPOINT, as for the real FastVideo).
        "HF_HUB_OFFLINE": "" if online else "1",
    }


@pytest.fixture
def fastvideo(start_server: Callable[..., Server], tmp_path: Path) -> Callable[..., FakeFastVideo]:
    def start(*args: str, step_s: float = 0.05, nvml_uuids: str | None = None, online: bool = False) -> FakeFastVideo:
        record = tmp_path / "fake-fastvideo.jsonl"
        env = fake_fastvideo_env(record, step_s, nvml_uuids, online)
        return FakeFastVideo(start_server(*(args or ("--gpus", "0,1")), env=env), record)

    return start


# -- browser tests -------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (never `playwright install`)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-chromium.sh (CI does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """A fresh browser context per page. Script errors in the page fail the test."""
    contexts = []
    errors: list[str] = []

    def open_(server: Server, path: str = "/", width: int = 1280, height: int = 900, init_script: str = "",
              color_scheme: str = "light") -> Any:
        context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True,
                                      color_scheme=color_scheme)
        contexts.append(context)
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(server.url + path)
        return page

    yield open_
    for context in contexts:
        context.close()
    assert not errors, f"errors in the page: {errors}"


def card(page: Any, job_id: str) -> Any:
    """A job's card in the jobs view."""
    return page.locator(f"job-card[data-id='{job_id}']")


# -- the real `fastvideo` 0.2.1 (scripts/fastvideo-env.sh builds its environment) ---

ROOT = Path(__file__).resolve().parent.parent
REAL_ENV = Path(os.environ.get("FASTVIDEO_UI_REAL_ENV", ROOT / ".venv-fastvideo"))
REAL_SITE = Path(__file__).parent / "real_fastvideo" / "site"  # CPU shims and fault injection
BUILD_TINY_WAN = Path(__file__).parent / "real_fastvideo" / "build_tiny_wan.py"


def real_python() -> str:
    """The real-FastVideo environment's interpreter. Missing, the test fails:
    it never skips, so CI cannot pass without running the real library."""
    python = REAL_ENV / "bin" / "python"
    if not python.exists():
        pytest.fail(f"the real-FastVideo environment is missing ({REAL_ENV}): run ./scripts/fastvideo-env.sh "
                    f"(./scripts/test.sh does)")
    return str(python)


def real_env(hf_home: Path) -> dict[str, str]:
    """The clone's code first, then the test-only site; weights from an offline cache."""
    return {"PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(REAL_SITE)]),
            "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="session")
def tiny_wan_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An HF_HOME whose hub cache holds tiny random-weight Wan 2.1 T2V and I2V
    checkpoints under the real repo ids, built here with no network."""
    hf_home = tmp_path_factory.mktemp("hf-home")
    env = dict(os.environ, **real_env(hf_home))
    subprocess.run([real_python(), str(BUILD_TINY_WAN), str(hf_home)], env=env, check=True, timeout=300,
                   capture_output=True)
    return hf_home
