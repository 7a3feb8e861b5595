"""The per-job fields are defined once (spec.fields.FIELDS) and every layer
carries them whole; the jobs layer resolves a request's into all of them."""

from __future__ import annotations

import pytest

from fastvideo_ui.api.schemas import CreateJobRequest
from fastvideo_ui.jobs.catalogue import Catalogue
from fastvideo_ui.database.tables import JobRow
from fastvideo_ui.jobs.params import InvalidParams, resolve_params
from fastvideo_ui.jobs.serialize import COPIED
from fastvideo_ui.spec.fields import BY_NAME, FIELDS, Group, Later

NAMES = [f.name for f in FIELDS]


def test_every_layer_carries_every_per_job_field() -> None:
    # The fields the spec began with, each in its group (a field added since is stored in the params JSON).
    old = {f.name for f in FIELDS if f.storage == "column"}
    assert {f.name for f in FIELDS if f.group is Group.GENERATION} & old == {
        "prompt", "negative_prompt", "num_inference_steps", "num_frames", "height", "width", "guidance_scale",
        "seed", "fps"}
    # What the old JOB_OPTIONS listed: the fields beyond generation and offload that a job keeps as asked.
    assert {f.name for f in FIELDS if f.group is not Group.GENERATION and not isinstance(f.default, Later)} & old == {
        "model_id", "num_gpus", "priority", "retry_on_oom", "webhook_url", "image"}
    columns = set(JobRow.__table__.columns.keys())
    for f in FIELDS:
        stored = f.name in columns if f.storage == "column" else "params" in columns and f.name not in columns
        assert stored and f.name in COPIED and f.name in CreateJobRequest.model_fields, f.name


def test_a_resolved_job_has_every_field_and_a_remix_copies_them() -> None:
    spec = Catalogue().find("Wan-AI/Wan2.1-T2V-1.3B-Diffusers")
    assert spec is not None
    params = resolve_params(spec, CreateJobRequest(model_id=spec.id, prompt="a fox").model_dump(), device_count=2)
    assert list(params) == NAMES and None not in (params[name] for name in NAMES if not BY_NAME[name].nullable)
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


def test_a_value_for_a_field_that_means_nothing_to_the_model_is_refused_by_the_spec() -> None:
    preview = Catalogue().find("fastvideo-ui/preview")
    assert preview is not None
    # The image field's Applies (image_input): the preview renderer takes one, a text-only model does not.
    wan = Catalogue().find("Wan-AI/Wan2.1-T2V-1.3B-Diffusers")
    assert wan is not None and wan.image_input == "none"
    with pytest.raises(InvalidParams) as refused:
        resolve_params(wan, {"model_id": wan.id, "prompt": "p", "image": "a" * 64}, device_count=1)
    assert ("image", f"{wan.id} does not take an image (it is {wan.type})") in refused.value.errors
    # A field's own default is no request (a remix copies every field of its source, applicable or not),
    # and a "keep" field (the offloads) is stored for a model it does not apply to, as before.
    kept = resolve_params(preview, {"model_id": preview.id, "prompt": "p", "image": None,
                                    "vae_cpu_offload": False}, device_count=1)
    assert kept["vae_cpu_offload"] is False


def test_what_the_model_refuses_or_requires_is_the_first_error() -> None:
    """As before the spec: the image rule is about the model, so it leads a 422 that also has limit errors
    (an OpenAI client's `param` is the first one)."""
    catalogue = Catalogue()
    wan = catalogue.find("Wan-AI/Wan2.1-T2V-1.3B-Diffusers")
    i2v = catalogue.find("Wan-AI/Wan2.1-I2V-14B-480P-Diffusers")
    assert wan is not None and i2v is not None
    with pytest.raises(InvalidParams) as refused:
        resolve_params(wan, {"model_id": wan.id, "prompt": "p", "image": "a" * 64, "width": 4096}, device_count=1)
    assert [field for field, _ in refused.value.errors] == ["image", "width"]
    with pytest.raises(InvalidParams) as needs:
        resolve_params(i2v, {"model_id": i2v.id, "prompt": "p", "width": 4096}, device_count=1)
    assert [field for field, _ in needs.value.errors] == ["image", "width"]
    assert needs.value.errors[0][1] == f"{i2v.id} needs an input image: upload one (POST /api/uploads)"
    # An image that comes with the request (a /v1/videos file) counts as given, and as refused.
    resolve_params(i2v, {"model_id": i2v.id, "prompt": "p"}, device_count=1, arriving=frozenset({"image"}))
    with pytest.raises(InvalidParams) as arriving:
        resolve_params(wan, {"model_id": wan.id, "prompt": "p"}, device_count=1, arriving=frozenset({"image"}))
    assert [field for field, _ in arriving.value.errors] == ["image"]
