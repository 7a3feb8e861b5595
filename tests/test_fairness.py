"""The first-in-first-out start each queued job is owed (jobs/fairness.py):
a virtual strict queue, computed, never run."""

from __future__ import annotations

from pathlib import Path

from schedule_sim import mix_12, simulate
from scheduler_parts import make_scheduler

from fastvideo_ui.jobs.catalogue import PREVIEW_MODEL_ID
from fastvideo_ui.database.engine import make_engine
from fastvideo_ui.database.migrate import migrate
from fastvideo_ui.jobs.fairness import FifoReference, OwedStarts
from fastvideo_ui.jobs.logs import LogBook
from fastvideo_ui.jobs.placement import Cluster, Waiting
from fastvideo_ui.jobs.store import JobStore
from fastvideo_ui.workers.devices import Inventory

TWO = Cluster({"gpu": ("g0", "g1")})


def job(job_id: str, count: int, model: str, run_s: float | None) -> Waiting:
    return Waiting(job_id, "gpu", count, model, run_s)


def test_the_reference_is_a_strict_queue_whose_workers_keep_their_models() -> None:
    reference = FifoReference()
    starts = [
        reference.admit(job("a", 1, "m", 10.0), 0.0, TWO, load_s=3.0),  # g0: load, free at 13
        reference.admit(job("b", 2, "m", 5.0), 1.0, TWO, load_s=3.0),  # both GPUs at 13: a new worker loads, 21
        reference.admit(job("c", 1, "n", 4.0), 2.0, TWO, load_s=3.0),  # after b, though g1 was free at 1: 21 -> 28
        reference.admit(job("d", 2, "m", 5.0), 3.0, TWO, load_s=3.0),  # waits for c; b's worker is gone: loads
        reference.admit(job("e", 2, "m", 5.0), 4.0, TWO, load_s=3.0),  # d's worker holds m: no load
    ]
    assert starts == [0.0, 13.0, 21.0, 28.0, 36.0]


def test_the_reference_gives_the_fifo_simulation_s_starts_on_the_twelve_job_mix() -> None:
    fifo = simulate(mix_12(), 4, backfill=False)
    reference = FifoReference()
    four = Cluster({"gpu": ("gpu0", "gpu1", "gpu2", "gpu3")})
    for sim_job in mix_12():
        at = reference.admit(job(sim_job.job_id, sim_job.gpus, str(sim_job.model), sim_job.run_s), 0.0, four)
        assert at == fifo.starts[sim_job.job_id], sim_job


def test_a_job_with_no_estimate_or_no_node_big_enough_has_no_owed_start_and_holds_nothing() -> None:
    reference = FifoReference()
    assert reference.admit(job("unknown", 2, "m", None), 0.0, TWO) is None
    assert reference.admit(job("huge", 3, "m", 10.0), 0.0, TWO) is None
    assert reference.admit(job("next", 2, "m", 10.0), 0.0, TWO) == 0.0


def test_a_node_that_left_takes_its_virtual_workers_with_it() -> None:
    nodes = Cluster({"gpu": ("a0", "b0")}, {"a0": "a", "b0": "b"})
    reference = FifoReference()
    assert reference.admit(job("long", 1, "m", 1000.0), 0.0, nodes) == 0.0  # on a0
    assert reference.admit(job("other", 1, "m", 1000.0), 0.0, nodes) == 0.0  # on b0
    # Node a leaves and a new node c joins: the next job is owed c's GPU now, not a0 in 1000 s.
    after = Cluster({"gpu": ("b0", "c0")}, {"b0": "b", "c0": "c"})
    assert reference.admit(job("next", 1, "m", 10.0), 5.0, after) == 5.0


def test_a_job_s_owed_start_is_given_once_and_forgotten_when_it_stops_waiting() -> None:
    owed = OwedStarts()
    first = job("first", 2, "m", None)
    assert owed.due_in(first, 0.0, TWO, (100.0, 0.0)) == 0.0
    second = job("second", 2, "m", None)
    assert owed.due_in(second, 0.0, TWO, (10.0, 0.0)) == 100.0
    # Later passes count down to it; a new estimate does not move it.
    assert owed.due_in(second, 40.0, TWO, (1.0, 0.0)) == 60.0
    # Queued again later (held, released): owed a new start, after everything admitted before,
    # its own first turn included (100 to 110): at 110, 60 s from now.
    owed.keep_only({"first"})
    assert owed.due_in(second, 50.0, TWO, (10.0, 0.0)) == 60.0
    # No estimate when first seen: none later either, and the reference never counts it.
    owed.keep_only(set())
    assert owed.due_in(job("blind", 2, "m", None), 60.0, TWO, None) is None
    assert owed.due_in(job("blind", 2, "m", None), 61.0, TWO, (5.0, 0.0)) is None


def test_the_scheduler_gives_placement_owed_starts_from_the_stored_runs(tmp_path: Path) -> None:
    """The wiring: history with its loads -> owed estimate -> reference -> due_in_s."""
    engine = make_engine(tmp_path / "jobs.db")
    migrate(engine)
    store = JobStore(engine)
    shape = {"model_id": PREVIEW_MODEL_ID, "num_inference_steps": 10, "num_frames": 5, "height": 64, "width": 64,
             "guidance_scale": 1.0, "seed": 1, "fps": 8, "num_gpus": 1}
    for index, (seconds, load) in enumerate([(10.0, 4.0), (6.0, None)]):  # warm: 6 and 6; the load: 4
        store.create(id=f"done{index}", prompt="done", status="completed", created_at=index, started_at=100.0,
                     finished_at=100.0 + seconds, load_seconds=load, **shape)
    for index in range(3):
        store.create(id=f"queued{index}", prompt="waits", status="queued", created_at=10 + index,
                     queued_at=10 + index, queue_rank=10 + index, **shape)
    scheduler = make_scheduler(store, LogBook(tmp_path / "logs"), Inventory((), "none", "", ("cpu0",)),
                               tmp_path / "out")
    waiting, _ = scheduler._waiting(scheduler._cluster())
    # The first starts now; its virtual worker loads (4 s) and runs (6 s); the next runs warm after it.
    assert [job.due_in_s for job in waiting] == [0.0, 10.0, 16.0]
    assert {job.estimate_s for job in waiting} == {10.0}  # backfilling's estimate still errs long
