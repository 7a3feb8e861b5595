"""Each run records the estimate the scheduler placed it with, and where it came
from: a fresh server's first job has a prior from its model's parameter count,
and each run that ends is history for the next (jobs/estimates.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import pytest

from conftest import FakeFastVideo

from fastvideo_ui.jobs.estimates import PRIOR_SECONDS_PER_WORK_PER_B

WAN_14B = "Wan-AI/Wan2.1-T2V-14B-Diffusers"


@pytest.mark.slow
def test_a_fresh_server_estimates_from_a_prior_then_from_the_nearest_history(
        fastvideo: Callable[..., FakeFastVideo]) -> None:
    fake = fastvideo("--gpus", "0")

    def run(**body: object) -> dict[str, object]:
        job = fake.create(start=True, **body)
        return fake.server.wait_status(job["id"], "completed", "failed")

    first = run()  # 64x64, 5 frames, 4 steps (SMALL_VIDEO)
    assert first["estimate_source"] == "prior"
    assert first["estimate_seconds"] == pytest.approx(PRIOR_SECONDS_PER_WORK_PER_B * 1.3 * 64 * 64 * 5 * 4, abs=1e-3)
    other = run(model_id=WAN_14B)
    assert other["estimate_source"] == "other_model"  # the 1.3B run, scaled by 14 / 1.3
    scaled = run(num_inference_steps=8)
    assert scaled["estimate_source"] == "scaled"
    # The 1.3B run's other time as it was, and its steps at its own seconds per step (stored with it), twice over.
    with sqlite3.connect(fake.server.data_dir / "jobs.sqlite3") as db:
        (step_seconds,) = db.execute("SELECT step_seconds FROM jobs WHERE id = ?", (first["id"],)).fetchone()
    took = first["finished_at"] - first["started_at"]
    assert 0 < step_seconds < took / 4
    assert scaled["estimate_seconds"] == pytest.approx(took + 4 * step_seconds, abs=2e-3)
    again = run()
    assert again["estimate_source"] == "same_shape"
    assert again["estimate_seconds"] == pytest.approx(first["finished_at"] - first["started_at"], abs=2e-3)
