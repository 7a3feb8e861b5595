"""The per-job fields are defined once (spec.fields.FIELDS) and every layer
carries them whole; the jobs layer resolves a request's into all of them."""

from __future__ import annotations

import pytest

from fastvideo_ui.api.schemas import CreateJobRequest
from fastvideo_ui.jobs.catalogue import Catalogue
from fastvideo_ui.database.tables import JobRow
from fastvideo_ui.jobs.params import InvalidParams, resolve_params
from fastvideo_ui.jobs.serialize import COPIED
from fastvideo_ui.spec.fields import FIELDS, Group, Later

NAMES = [f.name for f in FIELDS]


def test_every_layer_carries_every_per_job_field() -> None:
    assert {f.name for f in FIELDS if f.group is Group.GENERATION} == {
        "prompt", "negative_prompt", "num_inference_steps", "num_frames", "height", "width", "guidance_scale",
        "seed", "fps"}
    # What the old JOB_OPTIONS listed: the fields beyond generation and offload that a job keeps as asked.
    assert {f.name for f in FIELDS if f.group is not Group.GENERATION and not isinstance(f.default, Later)} == {
        "model_id", "num_gpus", "priority", "retry_on_oom", "webhook_url", "image"}
    columns = set(JobRow.__table__.columns.keys())
    for name in NAMES:
        assert name in columns and name in COPIED and name in CreateJobRequest.model_fields, name


def test_a_resolved_job_has_every_field_and_a_remix_copies_them() -> None:
    spec = Catalogue().find("Wan-AI/Wan2.1-T2V-1.3B-Diffusers")
    assert spec is not None
    params = resolve_params(spec, CreateJobRequest(model_id=spec.id, prompt="a fox").model_dump(), device_count=2)
    assert list(params) == NAMES and None not in (params[name] for name in NAMES if name not in ("webhook_url",
                                                                                                    "image"))
    # A remix asks for what its source stored (jobs/service.py): it resolves to the same, but the prompt.
    again = resolve_params(spec, params | {"prompt": "a cat"}, device_count=2)
    assert again == params | {"prompt": "a cat"}


def test_omitted_parameters_take_the_models_defaults_and_offload_is_resolved() -> None:
    spec = Catalogue().find("Wan-AI/Wan2.1-T2V-1.3B-Diffusers")
    assert spec is not None
    asked = CreateJobRequest(model_id=spec.id, prompt="a fox", num_frames=33).model_dump()
    params = resolve_params(spec, asked, device_count=2)
    assert params["num_frames"] == 33 and params["num_inference_steps"] == spec.defaults["num_inference_steps"]
    assert params["negative_prompt"] == spec.defaults["negative_prompt"] and params["seed"] == 1024
    assert params["dit_layerwise_offload"] is True and params["dit_cpu_offload"] is False  # FastVideo's rule


def test_every_broken_rule_is_named_at_once() -> None:
    spec = Catalogue().find("Wan-AI/Wan2.1-T2V-1.3B-Diffusers")
    assert spec is not None
    asked = CreateJobRequest(model_id=spec.id, prompt="a fox", num_frames=34, num_gpus=3,
                             dit_cpu_offload=True).model_dump()
    with pytest.raises(InvalidParams) as info:
        resolve_params(spec, asked, device_count=2)
    assert {field for field, _ in info.value.errors} == {"num_frames", "num_gpus", "dit_cpu_offload"}
