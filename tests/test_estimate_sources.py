"""Each run records the estimate the scheduler placed it with, and where it came
from: a fresh server's first job has a prior from its model's parameter count,
and each run that ends is history for the next (jobs/estimates.py)."""

from __future__ import annotations

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
    assert scaled["estimate_source"] == "scaled"  # the 1.3B run's seconds per step, twice the steps
    again = run()
    assert again["estimate_source"] == "same_shape"
    assert again["estimate_seconds"] == pytest.approx(first["finished_at"] - first["started_at"], abs=2e-3)
