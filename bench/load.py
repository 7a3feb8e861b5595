"""Load: N concurrent clients for S seconds against a real server. Prints figures; asserts nothing.

    .venv/bin/python bench/load.py [--clients 100] [--seconds 60] [--jobs 1000]

Each client loops over a weighted mix, like a browser tab plus a script:
list a page of 50 jobs (35%), get one job (25%), read a log page (20%),
open the event stream and read its first event or 2 s of it (15%), create and
start a small preview job (5%). Ten more clients hold an event stream open for
the whole run, as open tabs do. The server has an API token, so every request
pays for auth. Errors are transport failures and any status that is not the
expected one. Latency is to the end of the response (for the stream: its first
bytes). The clients run in --procs processes: one Python process cannot drive a
hundred httpx clients fast enough to load the server, and on a 2-core machine
clients and server share the CPU, so the figures are a floor for the server.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import Server  # noqa: E402
from core import seed_jobs  # noqa: E402

TOKEN = "load-bench-rDomykYHYdNynB4IvLt8j5gxPeh3"
MIX = [("list", 35), ("get", 25), ("logs", 20), ("sse", 15), ("create", 5)]
SMALL = {"model_id": "fastvideo-ui/preview", "height": 64, "width": 64, "num_frames": 4,
         "num_inference_steps": 3, "start": True}


class Tally:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter[str] = Counter()
        self.examples: dict[str, str] = {}
        self.stream_events = 0

    def merge(self, other: "Tally") -> None:
        for op, samples in other.latency.items():
            self.latency[op].extend(samples)
        self.errors.update(other.errors)
        for op, example in other.examples.items():
            self.examples.setdefault(op, example)
        self.stream_events += other.stream_events

    def error(self, op: str, what: str) -> None:
        self.errors[op] += 1
        self.examples.setdefault(op, what)


async def one_request(client: httpx.AsyncClient, op: str, ids: list[str], rng: random.Random,
                      tally: Tally) -> None:
    start = time.perf_counter()
    try:
        if op == "list":
            response = await client.get("/api/jobs", params={"limit": 50})
        elif op == "get":
            response = await client.get(f"/api/jobs/{rng.choice(ids)}")
        elif op == "logs":
            response = await client.get(f"/api/jobs/{rng.choice(ids)}/logs", params={"limit": 200})
        elif op == "create":
            response = await client.post("/api/jobs", json=SMALL | {"prompt": f"load {rng.random():.6f}"})
            if response.status_code == 201:
                ids.append(response.json()["id"])
        else:  # sse: connect, wait for the first bytes, read up to 2 s
            async with client.stream("GET", "/api/events") as response:
                first = True
                deadline = time.perf_counter() + 2
                async for chunk in response.aiter_bytes():
                    if first:
                        tally.latency[op].append(time.perf_counter() - start)
                        first = False
                    if time.perf_counter() > deadline or b"event:" in chunk:
                        break
            if response.status_code != 200:
                tally.error(op, f"HTTP {response.status_code}")
            return
    except httpx.HTTPError as exc:
        tally.error(op, f"{type(exc).__name__}: {exc}")
        return
    tally.latency[op].append(time.perf_counter() - start)
    expected = 201 if op == "create" else 200
    if response.status_code != expected:
        tally.error(op, f"HTTP {response.status_code}: {response.text[:200]}")


async def client_loop(base: str, ids: list[str], seed: int, until: float, tally: Tally) -> None:
    rng = random.Random(seed)
    ops, weights = zip(*MIX, strict=True)
    async with httpx.AsyncClient(base_url=base, timeout=30, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        while time.perf_counter() < until:
            await one_request(client, rng.choices(ops, weights)[0], ids, rng, tally)


async def listener(base: str, until: float, tally: Tally) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=None, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        try:
            async with client.stream("GET", "/api/events") as response:
                async for line in response.aiter_lines():
                    if line.startswith("event:"):
                        tally.stream_events += 1
                    if time.perf_counter() > until:
                        break
        except httpx.HTTPError as exc:
            tally.error("listen", f"{type(exc).__name__}: {exc}")


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def run(base: str, ids: list[str], seeds: list[int], listeners: int, seconds: float) -> Tally:
    tally = Tally()
    until = time.perf_counter() + seconds
    tasks = [client_loop(base, ids, seed, until, tally) for seed in seeds]
    tasks += [listener(base, until, tally) for _ in range(listeners)]
    await asyncio.gather(*tasks)
    return tally


def run_process(job: tuple[str, list[str], list[int], int, float]) -> Tally:
    return asyncio.run(run(*job))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--jobs", type=int, default=1000, help="jobs stored before the run")
    parser.add_argument("--procs", type=int, default=4, help="client processes")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        seed_jobs(data, args.jobs)
        server = Server(data, ["--max-queued", "100000"], env={"FASTVIDEO_UI_API_TOKEN": TOKEN}).start()
        try:
            server.client.headers["Authorization"] = f"Bearer {TOKEN}"
            ids = [job["id"] for job in server.client.get("/api/jobs", params={"limit": 1000}).json()]
            server_proc = psutil.Process(server.proc.pid)
            cpu_before = sum(server_proc.cpu_times()[:2])
            parts = [(server.url, ids, list(range(args.clients))[i::args.procs], 10 if i == 0 else 0, args.seconds)
                     for i in range(args.procs)]
            started = time.perf_counter()
            with multiprocessing.get_context("fork").Pool(args.procs) as pool:
                tallies = pool.map(run_process, parts)
            took = time.perf_counter() - started
            server_cpu = (sum(server_proc.cpu_times()[:2]) - cpu_before) / took
            health = server.health()
        finally:
            server.terminate()

    tally = Tally()
    for part in tallies:
        tally.merge(part)
    total = sum(len(v) for v in tally.latency.values())
    every = [s for v in tally.latency.values() for s in v]
    print(f"{args.clients} clients (+10 open event streams) for {took:.0f} s, {args.jobs} jobs stored, "
          f"token auth on every request; clients in {args.procs} processes")
    print(f"requests: {total} ({total / took:.0f}/s), errors: {sum(tally.errors.values())}")
    print(f"all:    p50 {pct(every, 0.5):7.1f} ms   p99 {pct(every, 0.99):7.1f} ms   max {max(every) * 1000:7.1f} ms"
          f"   over 1 s: {sum(1 for s in every if s > 1)}")
    for op, _ in MIX:
        samples = tally.latency.get(op, [])
        if samples:
            print(f"{op:7} n={len(samples):6}  p50 {pct(samples, 0.5):7.1f} ms   p99 {pct(samples, 0.99):7.1f} ms"
                  f"   errors {tally.errors[op]}")
    for op, example in tally.examples.items():
        print(f"  first {op} error: {example}")
    print(f"server process CPU: {server_cpu * 100:.0f}% of one core (this machine has {psutil.cpu_count()})")
    print(f"events received by the 10 open streams: {tally.stream_events}; "
          f"server RSS after: {health['rss_bytes'] / 2**20:.0f} MiB; jobs now {health['jobs']['total']}")


if __name__ == "__main__":
    main()
