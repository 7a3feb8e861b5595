"""Run-time estimates from the nearest history (jobs/estimates.py): the whole
run erring long for backfilling, the run and load apart erring short for owed
starts, and where each came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastvideo_ui.jobs.catalogue import BUILT_IN_MODELS
from fastvideo_ui.jobs.estimates import PRIOR_SECONDS_PER_WORK_PER_B, Shape, estimate

# A shape's sizes in estimates.WORK_FIELDS' order: steps, frames, width, height.
SMALL = Shape((10, 5, 64, 64), 1)
# (seconds, load seconds or None, seconds per step or None, steps, frames, width, height, gpus), newest first
HISTORY = [
    (12.0, None, None, 10, 5, 64, 64, 1),  # a warm run
    (30.0, 20.0, None, 10, 5, 64, 64, 1),  # a cold run: 20 s of it loading
    (14.0, None, None, 10, 5, 64, 64, 1),
    (50.0, 25.0, None, 10, 5, 128, 128, 1),  # another shape, 4x the work
]
SMALL_WORK = 64 * 64 * 5 * 10


def test_the_same_shape_errs_long_for_the_whole_run_and_short_for_the_owed_one() -> None:
    found = estimate(HISTORY, SMALL)
    assert found is not None
    assert found.seconds == 30.0  # the slowest, load included
    assert found.owed == (10.0, 20.0)  # the fastest with its load taken out; the fastest load
    assert found.source == "same_shape"


def test_an_unseen_shape_scales_by_work_from_the_model_s_runs_on_as_many_gpus() -> None:
    big = Shape((10, 10, 128, 128), 1)  # 8x the small shape's work
    found = estimate(HISTORY, big)
    assert found is not None and found.source == "scaled"
    assert found.seconds == pytest.approx(1.5 * 30.0 / SMALL_WORK * big.work)  # padded by half
    # Warm seconds per unit of work: 10/w for the small runs, 25/(4w) for the big one.
    assert found.owed == (pytest.approx(25.0 / (128 * 128 * 5 * 10) * big.work), 20.0)


def test_another_gpu_count_scales_safely_for_each_side() -> None:
    """More GPUs are never slower and at best linearly faster; fewer at worst linearly slower."""
    one_gpu = [(12.0, None, None, 10, 5, 64, 64, 1)]
    up = estimate(one_gpu, Shape((10, 5, 64, 64), 4))
    assert up is not None and up.source == "scaled"
    assert up.seconds == 1.5 * 12.0  # no speed-up assumed on the long side
    assert up.owed == (3.0, 0.0)  # a linear one on the short side
    four_gpus = [(12.0, None, None, 10, 5, 64, 64, 4)]
    down = estimate(four_gpus, SMALL)
    assert down is not None
    assert down.seconds == 1.5 * 48.0 and down.owed == (12.0, 0.0)


def test_another_step_count_scales_by_the_runs_own_seconds_per_step() -> None:
    """12 s for 10 steps at 0.8 s a step: 4 s of it are not steps (text encoding, decoding), and stay."""
    measured = [(12.0, None, 0.8, 10, 5, 64, 64, 1), (30.0, 20.0, 0.6, 10, 5, 64, 64, 1)]
    found = estimate(measured, Shape((30, 5, 64, 64), 1))
    assert found is not None and found.source == "scaled"
    assert found.seconds == pytest.approx(max(4.0 + 24.0, 24.0 + 18.0))  # the slowest, its load in it
    assert found.owed == (pytest.approx(min(4.0 + 24.0, 4.0 + 18.0)), 20.0)  # the fastest, without its load
    on_two = estimate(measured[:1], Shape((30, 5, 64, 64), 2))
    assert on_two is not None and on_two.seconds == pytest.approx(28.0)  # no speed-up assumed: erring long
    assert on_two.owed[0] == pytest.approx(4.0 + 12.0)  # a linear one on the steps: erring short
    other_size = estimate(measured, Shape((30, 5, 128, 128), 1))
    assert other_size is not None and other_size.seconds == pytest.approx(1.5 * 30.0 * 3 * 4)  # by work


def test_runs_on_as_many_gpus_are_preferred_to_scaling_across_counts() -> None:
    mixed = [(40.0, None, None, 10, 5, 64, 64, 4), (10.0, None, None, 20, 5, 64, 64, 1)]
    found = estimate(mixed, Shape((10, 5, 64, 64), 1))
    assert found is not None and found.seconds == 1.5 * 5.0  # from the 1-GPU run only


def test_a_model_never_run_scales_from_another_model_by_parameter_count() -> None:
    others = [(1.3, 12.0, None, None, 10, 5, 64, 64, 1)]  # a 1.3B model's run
    found = estimate([], SMALL, parameters_b=14.0, others=others)
    assert found is not None and found.source == "other_model"
    assert found.seconds == pytest.approx(1.5 * 12.0 * 14.0 / 1.3)
    assert found.owed == (pytest.approx(12.0 * 14.0 / 1.3), 0.0)  # its own load is not known: none owed


def test_with_no_history_at_all_the_prior_comes_from_the_parameter_count() -> None:
    found = estimate([], Shape((10, 5, 64, 64), 2), parameters_b=1.3)
    assert found is not None and found.source == "prior"
    assert found.seconds == pytest.approx(PRIOR_SECONDS_PER_WORK_PER_B * 1.3 * SMALL_WORK)
    assert found.owed is None  # too rough to owe a job its turn by: passed at most once, as with no estimate


def test_no_history_and_no_size_give_no_estimate() -> None:
    assert estimate([], SMALL) is None
    assert estimate([], SMALL, others=[(1.3, 12.0, None, None, 10, 5, 64, 64, 1)]) is None


def test_a_model_never_seen_loading_is_owed_no_load_time() -> None:
    found = estimate([(12.0, None, None, 10, 5, 64, 64, 1)], SMALL)
    assert found is not None and found.owed == (12.0, 0.0)


def test_the_built_in_models_know_their_size() -> None:
    sizes = {spec.id: spec.parameters_b for spec in BUILT_IN_MODELS}
    assert sizes["Wan-AI/Wan2.1-T2V-1.3B-Diffusers"] == 1.3
    assert sizes["Wan-AI/Wan2.2-T2V-A14B-Diffusers"] == 14.0
    assert sizes["Lightricks/LTX-2"] == 19.0
    assert sizes["fastvideo-ui/preview"] is None  # not a model: no prior


def test_the_history_reads_a_model_s_runs_once_and_adds_each_completed_run(tmp_path: Path) -> None:
    from job_values import job_params

    from fastvideo_ui.database.engine import make_engine
    from fastvideo_ui.database.migrate import migrate_apart
    from fastvideo_ui.database.tables import JobRow
    from fastvideo_ui.jobs.catalogue import Catalogue
    from fastvideo_ui.jobs.history import RunHistory
    from fastvideo_ui.jobs.store import JobStore

    engine = make_engine(tmp_path / "jobs.sqlite3")
    migrate_apart(engine, tmp_path / "jobs.sqlite3")
    store, catalogue = JobStore(engine), Catalogue()
    history = RunHistory(store, catalogue)
    spec = catalogue.find("Wan-AI/Wan2.1-T2V-1.3B-Diffusers")
    assert spec is not None
    params = job_params(model_id=spec.id, height=64, width=64, num_frames=5, num_inference_steps=10)
    first = history.estimate_of(params, spec)
    assert first is not None and first.source == "prior"
    reads: list[str] = []
    store.durations = lambda *args: reads.append("read") or []  # type: ignore[method-assign]
    row = JobRow(id="j", model_id=spec.id, status="completed", started_at=100.0, finished_at=112.5,
                 load_seconds=None, step_seconds=None, height=64, width=64, num_frames=5, num_inference_steps=10,
                 num_gpus=1)
    history.completed(row)
    found = history.estimate_of(params, spec)
    assert found is not None and (found.source, found.seconds) == ("same_shape", 12.5)
    assert reads == []  # from memory: the model's runs were read once, before
