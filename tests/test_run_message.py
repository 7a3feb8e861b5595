"""The worker side of the job spec: one typed run message (RunJob) that
carries a job's values whole and never its secrets, the reuse key (ModelConfig)
built from the LOAD fields, and FastVideo's keywords derived from the spec,
equal to the ones written by hand before it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from job_values import job_params, run_message
from spec_goldens import ADDED

from fastvideo_ui.backends.base import OPTION_FIELDS, ModelConfig
from fastvideo_ui.backends.fastvideo import load_kwargs, sampling_kwargs
from fastvideo_ui.workers.main import Worker
from fastvideo_ui.spec.fields import BY_NAME
from fastvideo_ui.workers.protocol import BadMessage, RunJob

# /api/health's workers[].model, as ModelConfig's dataclass fields made it before the spec.
TODAYS_MODEL_KEYS = {"model_id", "num_gpus", "dit_cpu_offload", "text_encoder_cpu_offload", "vae_cpu_offload",
                     "use_fsdp_inference", "dit_layerwise_offload", "workload_type"}


def test_a_run_round_trips_through_json_without_the_webhook(tmp_path: Path) -> None:
    params = job_params(webhook_url="https://user:pw@example.com/hook", image="ab" * 32, negative_prompt="blur")
    run = RunJob(run_id="j1#2", backend="fastvideo", model=ModelConfig.for_params(params, "i2v"), job_id="j1",
                 params=params, output_path=tmp_path / "j1.mp4", poster_path=tmp_path / "j1.jpg",
                 uploads={"image": tmp_path / "cat.png"})
    message = json.loads(json.dumps(run.encode()))
    assert message["type"] == "run" and "webhook_url" not in message["params"]
    assert "hook" not in json.dumps(message)
    assert RunJob.decode(message) == dataclasses.replace(run, params=dataclasses.replace(params, webhook_url=None))


@pytest.mark.parametrize("change", [
    lambda m: m.pop("params"),
    lambda m: m["params"].pop("fps"),
    lambda m: m["params"].update(fps="16"),
    lambda m: m["params"].update(webhook_url="https://x"),
    lambda m: m["model"].pop("vae_cpu_offload"),
    lambda m: m.update(job_id=None),
    lambda m: m.update(output_path=""),
    lambda m: m.pop("uploads"),
    lambda m: m.update(uploads={"mystery": "/tmp/x.png"}),
    lambda m: m.update(uploads={"image": ""}),
    lambda m: m.update(uploads=["image"]),
    lambda m: m.pop("resolved"),
    lambda m: m.update(resolved={"mystery": "/tmp/x.safetensors"}),
    lambda m: m.update(resolved=[]),
])
def test_a_bad_run_message_is_one_clear_error(tmp_path: Path, change: Any) -> None:
    message = run_message(tmp_path)
    change(message)
    with pytest.raises(BadMessage):
        RunJob.decode(message)


class Sent:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


def test_the_worker_fails_a_run_it_cannot_read_and_goes_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    channel = Sent()
    worker = Worker(channel, "nonce")  # type: ignore[arg-type]
    message = run_message(tmp_path)
    del message["params"]["seed"]
    worker.run_job(message)
    assert len(channel.sent) == 1 and channel.sent[0]["type"] == "failed"
    assert "seed" in channel.sent[0]["error"]
    out, err = capsys.readouterr()
    assert "begin:j1" in out and "end:j1" in out and "seed" in err  # in the job's own log
    assert worker.current_run is None and worker.loaded is None


def test_the_reuse_key_keeps_todays_json_and_defaults() -> None:
    config = ModelConfig("Wan-AI/Wan2.1-T2V-1.3B-Diffusers")
    todays = {name: value for name, value in config.as_json().items() if name not in ADDED}
    assert todays == {"model_id": "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "num_gpus": 1,
                      "dit_cpu_offload": False, "text_encoder_cpu_offload": True,
                      "vae_cpu_offload": True, "use_fsdp_inference": False,
                      "dit_layerwise_offload": True, "workload_type": "t2v"}
    # Load fields added since (issue 26's speed options) join the key, and so the JSON.
    assert set(config.as_json()) == TODAYS_MODEL_KEYS | {f.name for f in OPTION_FIELDS if f.name in ADDED}
    assert ModelConfig.from_json(config.as_json()) == config
    assert ModelConfig.for_params(job_params()) == config  # a job that said nothing: the defaults
    changed = ModelConfig.for_params(job_params(num_gpus=2, dit_layerwise_offload=False), "i2v")
    assert changed != config and changed.as_json()["dit_layerwise_offload"] is False
    with pytest.raises(ValueError):
        ModelConfig.from_json({**config.as_json(), "mystery": 1})


def test_fastvideos_keywords_are_todays() -> None:
    """What backends/fastvideo.py passed by hand before the spec."""
    params = job_params(negative_prompt="", dit_layerwise_offload=False, dit_cpu_offload=True)
    config = ModelConfig.for_params(params)
    added = {BY_NAME[name].fastvideo_name or name for name in ADDED}  # issue 26's load options, FastVideo's names
    assert {name: value for name, value in load_kwargs(config).items() if name not in added} == {
        "num_gpus": 1, "dit_cpu_offload": True, "text_encoder_cpu_offload": True, "vae_cpu_offload": True,
        "use_fsdp_inference": False, "dit_layerwise_offload": False}
    sampled = {name: value for name, value in sampling_kwargs(params).items() if name not in ADDED}
    assert sampled == {"num_inference_steps": 4, "num_frames": 5, "height": 64, "width": 64,
                       "guidance_scale": 1.0, "seed": 7, "fps": 16, "negative_prompt": ""}
    assert isinstance(sampling_kwargs(params)["negative_prompt"], str)  # FastVideo asserts a str
