"""What a graceful shutdown does with the jobs it finds running (the scheduler's
close, on a store of its own: no server, no workers)."""

from __future__ import annotations

import time
from pathlib import Path

from conftest import run_in_own_loop
from scheduler_parts import make_scheduler

from fastvideo_ui.backends.base import ModelConfig
from fastvideo_ui.jobs.catalogue import PREVIEW_MODEL_ID
from fastvideo_ui.database.engine import make_engine
from fastvideo_ui.database.migrate import migrate
from fastvideo_ui.jobs.logs import LogBook
from fastvideo_ui.jobs.store import JobStore
from fastvideo_ui.jobs.run import Run
from fastvideo_ui.workers.devices import Inventory

SHAPE = {"model_id": PREVIEW_MODEL_ID, "prompt": "p", "num_inference_steps": 10, "num_frames": 5, "height": 64,
         "width": 64, "guidance_scale": 1.0, "seed": 1, "fps": 8, "num_gpus": 1}


def test_shutdown_queues_running_jobs_first_in_their_order_and_ends_the_stopping_ones(tmp_path: Path) -> None:
    engine = make_engine(tmp_path / "jobs.db")
    migrate(engine)
    store = JobStore(engine)
    running = {"early": 100.0, "late": 200.0, "urgent": 300.0, "stopping": 150.0, "aborting": 160.0}
    for job_id, started in running.items():
        store.create(id=job_id, status="running", created_at=1.0, queued_at=50.0, queue_rank=50.0 + started,
                     started_at=started,
                     attempts=1, devices="cpu0", progress=40.0, step=4, total_steps=10, phase="denoising",
                     priority=5 if job_id == "urgent" else 0, **SHAPE)
    store.create(id="waiting", status="queued", created_at=2.0, queue_rank=10.0, **SHAPE)
    logs = LogBook(tmp_path / "logs")
    events: list[dict[str, object]] = []
    scheduler = make_scheduler(store, logs, Inventory((), "none", "", ("cpu0",)), tmp_path / "out",
                               listeners=[lambda _row, job: events.append(job)])

    async def close() -> None:
        config = ModelConfig(PREVIEW_MODEL_ID)
        for job_id in ("stopping", "aborting"):
            run = Run(job_id, f"{job_id}#1", "cpu", ("cpu0",), config, "preview")
            run.stop_requested = True
            if job_id == "aborting":
                run.abort_error = "its log cannot be written"
            scheduler.supervisor._runs[job_id] = run
        await scheduler.close()
        await scheduler.close()  # the app's own shutdown, after uvicorn's: nothing more happens

    closed_at = time.time()
    run_in_own_loop(close())
    rows = {job_id: store.require(job_id) for job_id in [*running, "waiting"]}
    assert {job_id: row.status for job_id, row in rows.items()} == {
        "early": "queued", "late": "queued", "urgent": "queued", "stopping": "stopped", "aborting": "failed",
        "waiting": "queued"}
    # first, in the order they started, each keeping its priority
    assert [job.id for job in store.queue_order()] == ["urgent", "early", "late", "waiting"]
    assert rows["urgent"].priority == 5
    for job_id in ("early", "late", "urgent"):
        row = rows[job_id]
        assert (row.attempts, row.error, row.started_at, row.devices, row.progress, row.step) == \
            (1, None, None, None, 0.0, None)
        assert "queued again, first in the queue: the server shut down" in logs.read(job_id)[0][-1]
        # queued again now: its next run's wait does not count this run as waiting
        assert row.queued_at is not None and row.queued_at >= closed_at, (job_id, row.queued_at)
    assert rows["stopping"].error is None and rows["stopping"].finished_at is not None
    assert rows["aborting"].error == "its log cannot be written"
    # no job event says "failed" but the one the server was failing anyway
    assert [event["id"] for event in events if event["status"] == "failed"] == ["aborting"]
    assert len(events) == len(running)
