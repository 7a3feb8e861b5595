"""/api/models' spec part (spec/served.py) for models built from the catalogue's
data: its legacy keys equal what the server answers today, and its `fields`
carry each model's own defaults and bounds."""

from __future__ import annotations

import json

from typing import Any

from conftest import Server
from spec_goldens import ADDED
from fastvideo_ui.api.system import model_facts
from fastvideo_ui.jobs.catalogue import Catalogue, ModelSpec, PREVIEW
from fastvideo_ui.spec.fields import FIELDS
from fastvideo_ui.spec.served import Capacity, fields_json

WAN = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
I2V = "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers"


def by_name(model: ModelSpec, devices: int | None = 1) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in fields_json(model_facts(model), Capacity(devices))}


# What a job that names no offload runs with (FastVideo 0.2.1's defaults after its layerwise rule), and the
# settings /api/models listed as a FastVideo model's `options`, as the server wrote them by hand before the spec.
OFFLOAD_DEFAULTS = {"dit_layerwise_offload": True, "dit_cpu_offload": False, "use_fsdp_inference": False,
                    "text_encoder_cpu_offload": True, "vae_cpu_offload": True}
FASTVIDEO_OPTIONS = ["dit_layerwise_offload", "dit_cpu_offload", "use_fsdp_inference", "text_encoder_cpu_offload",
                     "vae_cpu_offload"]


def test_the_legacy_keys_are_what_api_models_answered_before_the_spec(server: Server) -> None:
    """`defaults`, `limits` and `options` are now derived (spec/served.legacy_keys); they equal the
    hand-written code they replaced, restated here from the catalogue's data."""
    served = {model["id"]: model for model in server.client.get("/api/models").json()}
    assert set(served) == {spec.id for spec in Catalogue().all()}
    for spec in Catalogue().all():
        today = served[spec.id]
        gpus = today["limits"]["num_gpus"]
        assert gpus["min"] == 1 and gpus["scope"] == "server"
        # The spec's fields added since, as JSON has them (a list field's () is []).
        added = {f.name: json.loads(json.dumps(f.fixed_default)) for f in FIELDS if f.name in ADDED}
        assert today["defaults"] == dict(spec.defaults, seed=1024, num_gpus=1, **OFFLOAD_DEFAULTS, **added), spec.id
        assert today["limits"] == {**{name: rule.as_json() for name, rule in spec.limits.items()},
                                   "num_gpus": gpus}, spec.id
        assert today["options"] == (FASTVIDEO_OPTIONS if spec.backend == "fastvideo" else []), spec.id
        assert today["fields"] == json.loads(json.dumps(fields_json(model_facts(spec), Capacity(gpus["max"],
                                                                                            gpus["scope"])))), spec.id


def test_the_preview_models_fields() -> None:
    fields = by_name(PREVIEW, devices=2)
    assert "dit_layerwise_offload" not in fields and "retry_on_oom" not in fields  # it has no GPU memory
    assert list(fields)[:3] == ["model_id", "prompt", "negative_prompt"]
    assert (fields["width"]["minimum"], fields["width"]["maximum"], fields["width"]["multiple_of"]) == (64, 2048, 8)
    assert fields["num_frames"]["default"] == 49 and fields["num_frames"]["form"] is None
    assert fields["seed"]["default"] == 1024 and fields["seed"]["maximum"] == 2**32 - 1
    assert fields["num_gpus"] | {"maximum": 2, "scope": "server", "minimum": 1} == fields["num_gpus"]
    assert fields["image"]["required"] is False and fields["image"]["upload"] is True
    assert fields["model_id"]["required"] and fields["prompt"]["required"]
    assert fields["prompt"]["ui"]["widget"] == "textarea" and fields["fps"]["ui"]["widget"] == "number"
    assert fields["webhook_url"]["ui"] is None and fields["webhook_url"]["secret"] is True
    assert [name for name, f in fields.items() if f["restore"]] == [
        "model_id", "prompt", "negative_prompt", "num_inference_steps", "num_frames", "width", "height",
        "guidance_scale", "seed", "fps"]


def test_a_wan_models_fields() -> None:
    wan = Catalogue().find(WAN)
    assert wan is not None
    fields = by_name(wan, devices=None)
    assert (fields["width"]["minimum"], fields["width"]["maximum"], fields["width"]["multiple_of"]) == (64, 1280, 16)
    assert fields["num_frames"]["form"] == "4k+1" and fields["num_frames"]["default"] == 81
    assert fields["guidance_scale"]["default"] == 3.0 and fields["guidance_scale"]["minimum"] == 0
    assert fields["negative_prompt"]["default"] == wan.defaults["negative_prompt"]
    assert fields["num_gpus"]["maximum"] is None  # capacity not known now
    assert "image" not in fields  # a text-to-video model takes no image
    offloads = {name: f["default"] for name, f in fields.items() if f["group"] == "load" and f["type"] == "boolean"}
    assert offloads == {"dit_layerwise_offload": True, "dit_cpu_offload": False, "use_fsdp_inference": False,
                        "text_encoder_cpu_offload": True, "vae_cpu_offload": True, "enable_torch_compile": False}
    assert fields["dit_cpu_offload"]["off_when"] == "dit_layerwise_offload"
    assert "retry_on_oom" in fields


def test_an_image_to_video_model_requires_its_image() -> None:
    i2v = Catalogue().find(I2V)
    assert i2v is not None
    assert by_name(i2v)["image"]["required"] is True
