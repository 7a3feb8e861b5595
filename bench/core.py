"""Core runner figures on this machine. Prints medians; asserts nothing.

    .venv/bin/python bench/core.py [--jobs 10000] [--repeats 200]

- GET /api/jobs (first page of 50, and the seed-style full list) and
  GET /api/jobs/{id} latency with N jobs stored;
- the idle gap between two queued jobs on one slot (previous job's end to the
  next job's dispatch, and to its first denoising step);
- stop latency, cooperative and forced (a frozen worker, --stop-grace 1);
- POST /api/jobs (created, not started), with none and with N jobs stored;
- cold start: the process launched to its first 200 on /api/health;
- the server's idle RSS, empty and with N jobs stored.

The original runner's figures on this machine (issue 11) were: the full list at
10k jobs 178 ms, one job 1.5 ms, a create 1.9 ms, cold start 1.9 s, idle RSS 47 MiB.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import LONG, Server, wait_for  # noqa: E402

from fastvideo_ui.database.engine import make_engine  # noqa: E402
from fastvideo_ui.database.migrate import migrate  # noqa: E402
from fastvideo_ui.database.tables import JobRow  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402


def seed_jobs(data_dir: Path, count: int, prompt_chars: int = 100, filler: str = "x",
              negative_prompts: bool = False) -> None:
    engine = make_engine(data_dir / "jobs.sqlite3")
    migrate(engine)
    now = time.time() - count
    statuses = ["completed"] * 8 + ["failed", "stopped"]
    with Session(engine) as session, session.begin():
        for i in range(count):
            job_id = str(uuid.uuid4())
            session.add(JobRow(
                id=job_id, model_id="fastvideo-ui/preview",
                prompt=(f"bench prompt number {i} " + filler * prompt_chars)[:prompt_chars],
                negative_prompt=(filler * prompt_chars)[:prompt_chars] if negative_prompts else "",
                status=statuses[i % len(statuses)], num_inference_steps=30, num_frames=49,
                height=480, width=832, guidance_scale=5.0, seed=i, fps=16, num_gpus=1, created_at=now + i,
                started_at=now + i, finished_at=now + i + 0.5, log_file_path=str(data_dir / "logs" / f"{job_id}.log"),
                output_path=str(data_dir / "outputs" / f"{job_id}.mp4"), progress=100.0,
                progress_msg="30/30 steps", phase="done", attempts=1,
            ))
    engine.dispose()


def timed(client: httpx.Client, url: str, repeats: int) -> tuple[float, int]:
    samples = []
    size = 0
    for _ in range(repeats):
        start = time.perf_counter()
        response = client.get(url)
        samples.append(time.perf_counter() - start)
        response.raise_for_status()
        size = len(response.content)
    return statistics.median(samples) * 1000, size


def post_latency(server: Server, repeats: int) -> float:
    body = {"model_id": "fastvideo-ui/preview", "prompt": "a bench prompt " + "y" * 80}
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        response = server.client.post("/api/jobs", json=body)
        samples.append(time.perf_counter() - start)
        assert response.status_code == 201, response.text
    return statistics.median(samples) * 1000


def cold_start(data_dir: Path, repeats: int) -> list[float]:
    """Seconds from launching the server process to its first 200."""
    samples = []
    for _ in range(repeats):
        server = Server(data_dir, [])
        started = time.perf_counter()
        server.start()  # polls /api/health every 50 ms
        samples.append(time.perf_counter() - started)
        server.terminate()
    return samples


def idle_gap(server: Server, pairs: int) -> tuple[list[float], list[float]]:
    dispatch_gaps, step_gaps = [], []
    small = {"height": 128, "width": 128, "num_frames": 9, "num_inference_steps": 10}
    for _ in range(pairs):
        a = server.create(start=True, **small)
        b = server.create(start=True, **small)
        done_a = server.wait_status(a["id"], "completed")
        first_step = wait_for(lambda b=b: server.job(b["id"])["step"] and time.time(), interval=0.002)
        done_b = server.wait_status(b["id"], "completed")
        dispatch_gaps.append((done_b["started_at"] - done_a["finished_at"]) * 1000)
        step_gaps.append((first_step - done_a["finished_at"]) * 1000)
    return dispatch_gaps, step_gaps


def stop_latency(server: Server, repeats: int, freeze: bool) -> list[float]:
    samples = []
    for _ in range(repeats):
        job = server.create(start=True, **LONG)
        wait_for(lambda job=job: (server.job(job["id"])["step"] or 0) >= 2, interval=0.01)
        if freeze:
            pid = next(w["pid"] for w in server.health()["workers"] if w["job_id"] == job["id"])
            os.kill(pid, signal.SIGSTOP)
        start = time.perf_counter()
        server.client.post(f"/api/jobs/{job['id']}/stop")
        server.wait_status(job["id"], "stopped", timeout=60)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def rss_mib(server: Server) -> float:
    return server.health()["rss_bytes"] / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        empty = Server(tmp_path / "empty", []).start()
        time.sleep(1)
        empty_rss = rss_mib(empty)
        post_empty_ms = post_latency(empty, args.repeats)
        gaps, step_gaps = idle_gap(empty, 7)
        coop = stop_latency(empty, 5, freeze=False)
        empty.terminate()

        forced_server = Server(tmp_path / "forced", ["--stop-grace", "1"]).start()
        forced = stop_latency(forced_server, 3, freeze=True)
        forced_server.terminate()

        seeded = tmp_path / "seeded"
        seeded.mkdir()
        started = time.perf_counter()
        seed_jobs(seeded, args.jobs)
        seed_s = time.perf_counter() - started
        server = Server(seeded, []).start()
        time.sleep(1)
        full_rss = rss_mib(server)
        some_id = server.client.get("/api/jobs", params={"limit": 1}).json()[0]["id"]
        page_ms, page_bytes = timed(server.client, "/api/jobs?limit=50", args.repeats)
        one_ms, _ = timed(server.client, f"/api/jobs/{some_id}", args.repeats)
        all_ms, all_bytes = timed(server.client, "/api/jobs", max(5, args.repeats // 20))
        post_full_ms = post_latency(server, args.repeats)
        server.terminate()
        starts = cold_start(tmp_path / "cold", 5)

    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    print(f"jobs stored: {args.jobs} (seeded in {seed_s:.1f} s)")
    print(f"GET /api/jobs?limit=50        median {page_ms:7.2f} ms  ({page_bytes / 1024:.1f} KiB, "
          f"{args.repeats} requests)")
    print(f"GET /api/jobs/{{id}}            median {one_ms:7.2f} ms")
    print(f"GET /api/jobs (all, seed API) median {all_ms:7.2f} ms  ({all_bytes / 2**20:.2f} MiB)")
    print(f"POST /api/jobs                median {post_empty_ms:7.2f} ms with none stored, "
          f"{post_full_ms:.2f} ms with {args.jobs}")
    print(f"cold start to the first 200:  median {statistics.median(starts):7.2f} s  "
          f"(min {min(starts):.2f}, {len(starts)} starts)")
    print(f"idle gap, one slot: end -> next dispatch median {statistics.median(gaps):6.1f} ms "
          f"(min {min(gaps):.1f}, max {max(gaps):.1f}, {len(gaps)} pairs)")
    print(f"idle gap, one slot: end -> next job's first step (polled) median {statistics.median(step_gaps):6.1f} ms")
    print(f"stop, cooperative: median {statistics.median(coop):7.1f} ms  (min {min(coop):.1f}, max {max(coop):.1f})")
    print(f"stop, forced (frozen worker, grace 1 s): median {statistics.median(forced):7.1f} ms "
          f"= grace + {statistics.median(forced) - 1000:.1f} ms")
    print(f"server idle RSS: {empty_rss:.1f} MiB empty, {full_rss:.1f} MiB with {args.jobs} jobs")


if __name__ == "__main__":
    main()
