"""The generation parameters are defined once (backends.base.GENERATION_FIELDS)
and every layer carries them whole; the jobs layer resolves a request's."""

from __future__ import annotations

import pytest

from fastvideo_ui.api.schemas import CreateJobRequest
from fastvideo_ui.backends.base import GENERATION_FIELDS
from fastvideo_ui.jobs.catalogue import find_model
from fastvideo_ui.database.tables import JobRow
from fastvideo_ui.jobs.params import JOB_OPTIONS, InvalidParams, resolve_params
from fastvideo_ui.jobs.serialize import COPIED


def test_every_layer_carries_every_generation_parameter() -> None:
    assert set(GENERATION_FIELDS) == {"prompt", "negative_prompt", "num_inference_steps", "num_frames", "height",
                                      "width", "guidance_scale", "seed", "fps"}
    columns = set(JobRow.__table__.columns.keys())
    for name in (*GENERATION_FIELDS, *JOB_OPTIONS):
        assert name in columns and name in COPIED and name in CreateJobRequest.model_fields, name


def test_omitted_parameters_take_the_models_defaults_and_offload_is_resolved() -> None:
    spec = find_model("Wan-AI/Wan2.1-T2V-1.3B-Diffusers")
    assert spec is not None
    asked = CreateJobRequest(model_id=spec.id, prompt="a fox", num_frames=33).model_dump()
    params = resolve_params(spec, asked, device_count=2)
    assert params["num_frames"] == 33 and params["num_inference_steps"] == spec.defaults["num_inference_steps"]
    assert params["negative_prompt"] == spec.default_negative_prompt and params["seed"] == 1024
    assert params["dit_layerwise_offload"] is True and params["dit_cpu_offload"] is False  # FastVideo's rule


def test_every_broken_rule_is_named_at_once() -> None:
    spec = find_model("Wan-AI/Wan2.1-T2V-1.3B-Diffusers")
    assert spec is not None
    asked = CreateJobRequest(model_id=spec.id, prompt="a fox", num_frames=34, num_gpus=3,
                             dit_cpu_offload=True).model_dump()
    with pytest.raises(InvalidParams) as info:
        resolve_params(spec, asked, device_count=2)
    assert {field for field, _ in info.value.errors} == {"num_frames", "num_gpus", "dit_cpu_offload"}
