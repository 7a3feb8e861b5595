"""Run-time estimates from history (jobs/estimates.py): the whole run erring
long for backfilling, the run and load apart erring short for owed starts."""

from __future__ import annotations

from fastvideo_ui.jobs.estimates import Shape, estimate_seconds, owed_estimate

SMALL = Shape((64, 64, 5, 10), 1)
# (seconds, load seconds or None, width, height, frames, steps, gpus), newest first
HISTORY = [
    (12.0, None, 64, 64, 5, 10, 1),  # a warm run
    (30.0, 20.0, 64, 64, 5, 10, 1),  # a cold run: 20 s of it loading
    (14.0, None, 64, 64, 5, 10, 1),
    (50.0, 25.0, 128, 128, 5, 10, 1),  # another shape, 4x the work
]


def test_the_whole_run_errs_long_and_the_owed_run_errs_short() -> None:
    assert estimate_seconds(HISTORY, SMALL) == 30.0  # the slowest, load included
    assert owed_estimate(HISTORY, SMALL) == (10.0, 20.0)  # the fastest with its load taken out; the fastest load


def test_an_unseen_shape_scales_from_the_model_s_runs_on_as_many_gpus() -> None:
    big = Shape((128, 128, 10, 10), 1)  # 8x the small shape's work
    assert estimate_seconds(HISTORY, big) == 1.5 * (30.0 / (64 * 64 * 5 * 10)) * big.work  # padded by half
    # Warm seconds per unit of work: 10/w for the small runs, 25/(4w) for the big one.
    assert owed_estimate(HISTORY, big) == (25.0 / (128 * 128 * 5 * 10) * big.work, 20.0)


def test_no_runs_of_that_gpu_count_give_no_estimate() -> None:
    two_gpus = Shape((64, 64, 5, 10), 2)
    assert estimate_seconds(HISTORY, two_gpus) is None
    assert owed_estimate(HISTORY, two_gpus) is None
    assert owed_estimate([], SMALL) is None


def test_a_model_never_seen_loading_is_owed_no_load_time() -> None:
    warm_only = [(12.0, None, 64, 64, 5, 10, 1)]
    assert owed_estimate(warm_only, SMALL) == (12.0, 0.0)
