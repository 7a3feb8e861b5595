"""The scheduler's placement, replayed and on the real server. Prints figures;
asserts nothing.

    .venv/bin/python bench/schedule.py [--no-server] [--jobs 1000]

1. A discrete-event simulation (tests/schedule_sim.py) running the real
   placement code with no processes, on two traces:
   - issue 12's mix of 12 jobs, (gpus, steps) at 0.2 s a step, all queued at
     once on 4 GPUs, no model load time;
   - `--jobs` jobs over 8 GPUs, 3 models (load times 20, 45 and 60 s), GPU
     counts 1 to 8, Poisson arrivals keeping the GPUs about 80% busy.
   For FIFO, for backfill with affinity bounded by passing a job once (the
   rule before owed starts), for the default policy (affinity bounded by each
   job's first-in-first-out start, jobs/fairness.py) and with
   --affinity-wait 300, it prints makespan against the lower bound (total
   GPU-seconds / GPUs, or the last arrival's own end), p50 and p95 wait,
   GPU-seconds idle while a queued job would have fit on the idle GPUs, model
   loads, and the worst wait beyond a job's FIFO wait. Then how many of the
   placement test's 200 random traces break the starvation bound under each
   policy, and under the default when the run estimates err short or long.
2. The 12-job mix on the real server with the fake FastVideo on 4 simulated
   GPUs (0.2 s a step): on a fresh server (no history: its first estimates
   are the prior from the model's parameter count, then scaled from each run
   as it ends), then the same mix again, now with the first round's runs of
   the same shapes. Each round prints how many of its runs were placed with
   an estimate from each source (estimate_source).
"""

from __future__ import annotations

import argparse
from collections import Counter
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import FAKE_FASTVIDEO, WAN, Server  # noqa: E402
from schedule_sim import (MIX_12, MODEL_LOAD_S, STEP_S, SimJob, mix_12, poisson_trace, simulate,  # noqa: E402
                          starved)


POLICIES = [
    ("FIFO", {"backfill": False}),
    ("pass once (no owed starts)", {"owed_starts": False}),
    ("owed starts (default)", {}),
    ("owed starts, --affinity-wait 300", {"slack_s": 300.0}),
]


def simulated(jobs_count: int) -> None:
    traces = [
        ("12-job mix, 4 GPUs", mix_12(), 4, lambda _model: 0.0),
        (f"{jobs_count} jobs, 3 models, 8 GPUs", poisson_trace(jobs_count, 8, seed=1, load=0.8), 8,
         MODEL_LOAD_S.__getitem__),
    ]
    for name, jobs, gpus, load in traces:
        print(f"\n{name}")
        longest = max(job.run_s + load(job.model) for job in jobs)
        fifo = simulate(jobs, gpus, load_s=load, backfill=False)
        for label, options in POLICIES:
            result = simulate(jobs, gpus, load_s=load, **options)  # type: ignore[arg-type]
            extra = max(result.waits[j] - fifo.waits[j] for j in result.waits)
            print(f"  {label:34} {result.summary()}")
            print(f"  {'':34} loads {result.loads / fifo.loads:.2f}x FIFO's; worst wait beyond its FIFO wait "
                  f"{extra:.1f} s (bound: the longest job, {longest:.1f} s)")
    print("\nThe starvation bound over the placement test's 200 random traces (traces where some job waited "
          "longer than its FIFO wait plus the longest job):")
    for label, options in POLICIES[1:]:
        print(f"  {label:34} {starvation_breaches(**options)}/200")  # type: ignore[arg-type]
    for low, high in ((0.8, 1.0), (1.0, 1.2)):
        def skewed(job: SimJob, low: float = low, high: float = high) -> float:
            return job.run_s * random.Random(job.job_id).uniform(low, high)
        breaches = starvation_breaches(estimate=skewed)
        print(f"  owed starts, run estimates {low:.1f}-{high:.1f}x the truth: {breaches}/200")


def starvation_breaches(**options: object) -> int:
    return sum(bool(starved(seed, **options)) for seed in range(200))


def on_the_server() -> None:
    bound = sum(gpus * steps * STEP_S for gpus, steps in MIX_12) / 4
    with tempfile.TemporaryDirectory() as tmp:
        env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(FAKE_FASTVIDEO), os.environ.get("PYTHONPATH")])),
               "FAKE_FASTVIDEO_STEP_S": str(STEP_S), "HF_HUB_OFFLINE": "1"}  # the fake needs no weights
        server = Server(Path(tmp), ["--gpus", "0,1,2,3"], env=env).start()
        try:
            for label in ("fresh server (no history)", "second round (estimates from the first)"):
                ids = [server.create(model_id=WAN, prompt=f"mix job {i}", num_gpus=gpus, num_inference_steps=steps,
                                     height=64, width=64, num_frames=5, start=True)["id"]
                       for i, (gpus, steps) in enumerate(MIX_12)]
                jobs = [server.wait_status(job_id, "completed", "failed", timeout=600) for job_id in ids]
                failed = [job["error"] for job in jobs if job["status"] != "completed"]
                if failed:
                    raise SystemExit(f"jobs failed: {failed}")
                makespan = max(j["finished_at"] for j in jobs) - min(j["queued_at"] for j in jobs)
                sources = Counter(str(job["estimate_source"]) for job in jobs)
                print(f"  {label}: makespan {makespan:.1f} s = {makespan / bound:.2f}x the bound ({bound:.1f} s); "
                      f"estimates: {', '.join(f'{n} {source}' for source, n in sources.most_common())}")
                time.sleep(0.5)
        finally:
            server.terminate()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--no-server", action="store_true", help="the simulation only")
    args = parser.parse_args()
    started = time.perf_counter()
    simulated(args.jobs)
    print(f"\n(simulations took {time.perf_counter() - started:.1f} s)")
    if not args.no_server:
        print("\n12-job mix on the real server, fake FastVideo, 4 simulated GPUs")
        on_the_server()


if __name__ == "__main__":
    main()
