"""bench/core.py's list, get, create and cold-start figures for two checkouts
at once, their requests interleaved (A B, B A, ...) so the machine's noise
falls on both alike. Prints each median and the ratio new/base; asserts nothing.

    git worktree add /tmp/base <commit>
    .venv/bin/python bench/paired.py /tmp/base . [--repeats 1000] [--full 100] [--starts 24]

Each checkout runs from its own src/ (PYTHONPATH) and seeds its own database
with its own bench/core.py, so each reads its own schema.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import Server  # noqa: E402

JOBS = 10_000
BODY = {"model_id": "fastvideo-ui/preview", "prompt": "a bench prompt " + "y" * 80}


def env_of(tree: Path) -> dict[str, str]:
    return {"PYTHONPATH": str(tree / "src")}


def seed(tree: Path, data_dir: Path) -> None:
    code = (f"import sys; sys.path[:0] = [{str(tree / 'bench')!r}, {str(tree / 'tests')!r}]; import core; "
            f"from pathlib import Path; core.seed_jobs(Path({str(data_dir)!r}), {JOBS})")
    subprocess.run([sys.executable, "-c", code], env=env_of(tree), check=True)


def paired(run: Callable[[int], object], count: int) -> list[float]:
    """Milliseconds, median per side; the order alternates so neither side always goes first."""
    samples: list[list[float]] = [[], []]
    for k in range(count):
        for side in ((0, 1) if k % 2 == 0 else (1, 0)):
            started = time.perf_counter()
            run(side)
            samples[side].append(time.perf_counter() - started)
    return [statistics.median(side) * 1000 for side in samples]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--repeats", type=int, default=1000)
    parser.add_argument("--full", type=int, default=100, help="full-list requests per side")
    parser.add_argument("--starts", type=int, default=24, help="cold starts per side")
    args = parser.parse_args()
    trees = [args.base.resolve(), args.new.resolve()]
    figures: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        servers = []
        for side, tree in enumerate(trees):
            data_dir = Path(tmp) / f"seeded{side}"
            data_dir.mkdir()
            seed(tree, data_dir)
            servers.append(Server(data_dir, [], env=env_of(tree)).start())
        time.sleep(1.5)
        try:
            ids = [server.client.get("/api/jobs", params={"limit": 1}).json()[0]["id"] for server in servers]
            figures["GET /api/jobs?limit=50"] = paired(
                lambda side: servers[side].client.get("/api/jobs?limit=50").raise_for_status(), args.repeats)
            figures["GET /api/jobs/{id}"] = paired(
                lambda side: servers[side].client.get(f"/api/jobs/{ids[side]}").raise_for_status(), args.repeats)
            figures["GET /api/jobs (all)"] = paired(
                lambda side: servers[side].client.get("/api/jobs").raise_for_status(), args.full)
            figures["POST /api/jobs"] = paired(
                lambda side: servers[side].client.post("/api/jobs", json=BODY).raise_for_status(), args.repeats)
        finally:
            for server in servers:
                server.terminate()

        def cold(side: int) -> None:
            server = Server(Path(tmp) / f"cold{side}", [], env=env_of(trees[side]))
            server.start()  # polls /api/health every 50 ms
            server.terminate()

        figures["cold start to first 200"] = paired(cold, args.starts)
    print(f"base {trees[0]}\nnew  {trees[1]}\n{JOBS} jobs stored; medians in ms")
    for name, (base, new) in figures.items():
        print(f"{name:26s} base {base:8.2f}  new {new:8.2f}  new/base {new / base:.3f}")


if __name__ == "__main__":
    main()
