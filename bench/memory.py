"""The server's memory while it answers the biggest responses the original API
allows: full job lists and whole logs, asked for with no `limit`. Prints
figures; asserts nothing.

    .venv/bin/python bench/memory.py [--jobs 100000] [--prompt-chars 2000] [--clients 4] [--log-lines 1000000]

- RSS before, and its peak while `--clients` clients each read GET /api/jobs
  (every job) at once, with the bytes and the time each took;
- the same for GET /api/jobs/{id}/logs?after=10 on a log of `--log-lines` lines.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import Server  # noqa: E402
from core import seed_jobs  # noqa: E402


class PeakRss:
    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def read_all(url: str, results: list[tuple[int, float]]) -> None:
    started = time.perf_counter()
    size = 0
    with httpx.stream("GET", url, timeout=600, headers={"Accept-Encoding": "identity"}) as response:
        for chunk in response.iter_raw():
            size += len(chunk)
    results.append((size, time.perf_counter() - started))


def concurrently(url: str, clients: int) -> list[tuple[int, float]]:
    results: list[tuple[int, float]] = []
    threads = [threading.Thread(target=read_all, args=(url, results)) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def mib(value: float) -> str:
    return f"{value / 2**20:.0f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--prompt-chars", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--log-lines", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        seed_jobs(data, args.jobs, args.prompt_chars)
        server = Server(data, []).start()
        assert server.proc is not None
        try:
            time.sleep(1)
            idle = psutil.Process(server.proc.pid).memory_info().rss
            with PeakRss(server.proc.pid) as peak:
                lists = concurrently(f"{server.url}/api/jobs", args.clients)
            print(f"{args.jobs} jobs with {args.prompt_chars}-character prompts; server RSS idle {mib(idle)}")
            print(f"{args.clients} concurrent GET /api/jobs (all): {mib(lists[0][0])} each (gzip off), "
                  f"median {statistics.median(t for _, t in lists):.2f} s; server RSS peak {mib(peak.peak)}")
            job_id = server.client.get("/api/jobs", params={"limit": 1}).json()[0]["id"]
            with open(data / "logs" / f"{job_id}.log", "a") as handle:
                for start in range(0, args.log_lines, 100_000):
                    handle.writelines(f"[{i:07d}] a log line of ordinary length from a worker\n"
                                      for i in range(start, min(start + 100_000, args.log_lines)))
            before = psutil.Process(server.proc.pid).memory_info().rss
            with PeakRss(server.proc.pid) as peak:
                logs = concurrently(f"{server.url}/api/jobs/{job_id}/logs?after=10", 1)
            print(f"GET /logs?after=10 on {args.log_lines} lines: {mib(logs[0][0])}, {logs[0][1]:.2f} s; "
                  f"server RSS {mib(before)} before, peak {mib(peak.peak)}")
        finally:
            server.terminate()


if __name__ == "__main__":
    main()
