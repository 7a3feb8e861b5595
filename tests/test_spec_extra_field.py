"""A new per-job field is one entry: a test-only `detail_boost` (the proof
field of the design's §8) added through the same machinery reaches the request
model, the documented Job, the CLI, /api/models' fields, the MP4's settings
and the worker's wire, with nothing else written for it."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

import pytest
from pydantic import ValidationError

from fastvideo_ui.api.spec_models import job_model, request_model
from fastvideo_ui.cli_flags import add_job_flags
from fastvideo_ui.spec.fields import FIELDS, Applies, Group, JobParams, Ui, fields_of, param
from fastvideo_ui.spec.rules import from_wire, settings_of, to_wire
from fastvideo_ui.spec.served import Capacity, ModelFacts, fields_json, legacy_keys


@dataclass(frozen=True, kw_only=True)
class WithRescale(JobParams):
    detail_boost: float = param(
        0.0, group=Group.GENERATION, minimum=0.0, maximum=1.0, finite=True, fastvideo="sample",
        applies=Applies(backends=frozenset({"fastvideo"})),
        help="boosts fine detail (0: off)",
        ui=Ui("Detail boost", section="advanced", step=0.05))


EXTRA = fields_of(WithRescale)
WAN = ModelFacts(id="wan", type="t2v", backend="fastvideo", device_kind="gpu", image_input="none", oom_retry=True,
                 defaults={"num_inference_steps": 50, "num_frames": 81, "height": 480, "width": 832,
                           "guidance_scale": 3.0, "fps": 16, "negative_prompt": ""},
                 limits={"num_frames": {"min": 1, "max": 257, "form": "4k+1"}})
PREVIEW = dataclasses.replace(WAN, id="preview", backend="preview", device_kind="cpu", oom_retry=False)


def job() -> WithRescale:
    return WithRescale(model_id="wan", prompt="a fox", negative_prompt="", num_inference_steps=3, num_frames=9,
                       width=64, height=64, guidance_scale=3.0, fps=8, dit_layerwise_offload=True,
                       dit_cpu_offload=False, use_fsdp_inference=False, text_encoder_cpu_offload=True,
                       vae_cpu_offload=True, detail_boost=0.7)


def test_the_fields_tuple_gains_one_entry_last() -> None:
    assert EXTRA[:-1] == FIELDS and EXTRA[-1].name == "detail_boost" and EXTRA[-1].type is float
    assert EXTRA[-1].storage == "json"  # a new field needs no migration


def test_the_request_model_takes_it_with_its_bounds() -> None:
    model = request_model(EXTRA)
    schema = model.model_json_schema()["properties"]["detail_boost"]
    assert schema | {"type": "number", "minimum": 0.0, "maximum": 1.0, "default": 0.0} == schema
    assert model.model_validate({"model_id": "wan", "prompt": "a", "detail_boost": 0.7}).detail_boost == 0.7  # type: ignore[attr-defined]
    with pytest.raises(ValidationError):
        model.model_validate({"model_id": "wan", "prompt": "a", "detail_boost": 1.5})
    assert list(model.model_fields)[-2:] == ["detail_boost", "start"]


def test_the_documented_job_has_it() -> None:
    schema = job_model(EXTRA).model_json_schema()
    assert schema["properties"]["detail_boost"]["type"] == "number"
    assert "detail_boost" in schema["required"]


def test_the_cli_derives_its_flag() -> None:
    parser = argparse.ArgumentParser()
    flags = add_job_flags(parser, EXTRA)
    assert ("detail_boost", "--detail-boost", ("detail_boost",)) in \
        [dataclasses.astuple(flag) for flag in flags]
    assert parser.parse_args(["a fox", "--detail-boost", "0.7"]).detail_boost == 0.7
    assert "boosts fine detail" in parser.format_help()


def test_api_models_serves_it_to_fastvideo_models_only() -> None:
    wan = {f["name"]: f for f in fields_json(WAN, Capacity(1), EXTRA)}
    assert wan["detail_boost"] | {"default": 0.0, "minimum": 0.0, "maximum": 1.0, "restore": True} == \
        wan["detail_boost"]
    assert wan["detail_boost"]["ui"]["widget"] == "number" and wan["detail_boost"]["ui"]["step"] == 0.05
    assert "detail_boost" not in {f["name"] for f in fields_json(PREVIEW, Capacity(1), EXTRA)}
    assert legacy_keys(WAN, Capacity(1), EXTRA)["defaults"]["detail_boost"] == 0.0


def test_the_mp4_keeps_it_and_the_wire_carries_it() -> None:
    params = job()
    assert settings_of(params)["detail_boost"] == 0.7
    wire = to_wire(params)
    assert wire["detail_boost"] == 0.7
    assert from_wire(wire, WithRescale) == params
    with pytest.raises(ValueError):
        from_wire(wire)  # a receiver without the field refuses it rather than drop it


@dataclass(frozen=True, kw_only=True)
class WithPlainKinds(JobParams):
    """Fields written with no more than a type, a default and a help: what a contributor's first try looks like."""

    blur: float = param(0.5, group=Group.GENERATION, help="a test-only float, unbounded")
    steps_extra: int = param(0, group=Group.GENERATION, help="a test-only int")
    with_audio: bool = param(True, group=Group.OPTION, help="a test-only flag, on unless asked off")


PLAIN = fields_of(WithPlainKinds)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "-Infinity", "1e999"])
def test_a_float_field_refuses_what_is_not_a_number_unless_it_says_otherwise(bad: object) -> None:
    # A NaN stored in the params JSON would make SQLite refuse the whole document, and every listing.
    with pytest.raises(ValidationError) as refused:
        request_model(PLAIN).model_validate({"model_id": "wan", "prompt": "a", "blur": bad})
    assert refused.value.errors()[0]["loc"] == ("blur",)
    assert request_model(PLAIN).model_validate({"model_id": "wan", "prompt": "a", "steps_extra": 3}).steps_extra == 3  # type: ignore[attr-defined]


def test_a_flag_on_by_default_is_derived_as_the_switch_that_turns_it_off() -> None:
    parser = argparse.ArgumentParser()
    flags = {flag.dest: flag.flag for flag in add_job_flags(parser, PLAIN)}
    assert flags["with_audio"] == "--no-with-audio"
    assert parser.parse_args(["a fox", "--no-with-audio"]).with_audio is False
    assert parser.parse_args(["a fox"]).with_audio is None  # unset: the server's default (on)
