"""How a run's end is recorded when the job goes back to the queue (pure: no
store, no server): it is queued as of that moment, so the wait a card shows is
the wait for this run, not the earlier run counted as waiting."""

from __future__ import annotations

import time

from conftest import run_in_own_loop

from fastvideo_ui.backends.base import ModelConfig
from fastvideo_ui.database.tables import JobRow
from fastvideo_ui.jobs.run_end import ending, shutdown_ending
from fastvideo_ui.jobs.states import Action
from fastvideo_ui.jobs.run import Run
from fastvideo_ui.workers.protocol import Crashed, Failed

FIRST_QUEUED, FIRST_STARTED = 1000.0, 1010.0


def _row(**fields: object) -> JobRow:
    values = {"id": "j", "model_id": "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "status": "running", "attempts": 1,
              "queued_at": FIRST_QUEUED, "started_at": FIRST_STARTED, "retry_on_oom": False,
              "dit_layerwise_offload": False, "dit_cpu_offload": False, "text_encoder_cpu_offload": False,
              "vae_cpu_offload": False, "use_fsdp_inference": False}
    return JobRow(**(values | fields))


def _run() -> Run:
    async def make() -> Run:
        return Run("j", "j#1", "gpu", ("0",), ModelConfig("Wan-AI/Wan2.1-T2V-1.3B-Diffusers"), "fastvideo")

    return run_in_own_loop(make())


def test_every_requeue_resets_when_the_job_was_queued() -> None:
    before = time.time()
    endings = {
        "lost machine": ending(_run(), Crashed(1, lost="its Ray node was lost"), _row(), lambda: 1.0),
        "out of memory": ending(_run(), Failed("CUDA out of memory"), _row(retry_on_oom=True), lambda: 1.0),
        "shutdown": shutdown_ending(_run(), _row(), lambda: 1.0),
        "shutdown, no run held": shutdown_ending(None, _row(), lambda: 1.0),
    }
    for why, (action, fields, _lines) in endings.items():
        assert action is Action.RETRY, why
        queued_at = fields.get("queued_at", FIRST_QUEUED)  # a field not set keeps the row's value
        assert queued_at >= before, f"{why}: still queued at {queued_at}, before its first run"
        assert fields["started_at"] is None and fields["queue_rank"] == 1.0, why
