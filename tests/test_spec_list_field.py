"""A list field of records (the shape of `loras`) is one entry too: a
test-only `styles` field, each item a {name, weight} record declared with
param()s, reaches the request model (with its record's own bounds), the
wire, the stored JSON, the card's line, the CLI (a repeated flag) and
/api/models, with nothing else written for it. Applies.feature limits a
field to the models that have a feature."""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import ValidationError

from fastvideo_ui.api.spec_models import request_model
from fastvideo_ui.cli_flags import add_job_flags
from fastvideo_ui.spec.fields import Applies, Cli, Group, JobParams, Ui, fields_of, param
from fastvideo_ui.spec.rules import WireError, from_wire, params_of, shown, summarize, to_wire
from fastvideo_ui.spec.served import Capacity, ModelFacts, fields_json


@dataclass(frozen=True, kw_only=True)
class Style:
    """One style and how strongly it applies."""

    name: str = param(group=Group.GENERATION, min_length=1, max_length=50, help="the style's name")
    weight: float = param(1.0, group=Group.GENERATION, minimum=-2, maximum=2, help="how strongly")


def _parse_style(text: str) -> dict[str, Any]:
    name, _, weight = text.partition(":")
    return {"name": name, "weight": float(weight or 1.0)}


@dataclass(frozen=True, kw_only=True)
class WithStyles(JobParams):
    styles: tuple[dict[str, Any], ...] = param(
        (), group=Group.GENERATION, item=Style, max_length=3, applies=Applies(feature="styles"),
        help="styles to apply, in order",
        cli=Cli("--style", metavar="NAME[:WEIGHT]", parse=_parse_style, repeat=True),
        ui=Ui("Styles", summary="styled {styles}", summary_at=9))


EXTRA = fields_of(WithStyles)
STYLED = ModelFacts(id="wan", type="t2v", backend="fastvideo", device_kind="gpu", image_input="none",
                    oom_retry=True, defaults={"num_inference_steps": 50, "num_frames": 81, "height": 480, "width": 832,
                                              "guidance_scale": 3.0, "fps": 16, "negative_prompt": ""},
                    limits={}, features=frozenset({"styles"}))
PLAIN = dataclasses.replace(STYLED, id="plain", features=frozenset())
TWO = ({"name": "ink", "weight": 0.5}, {"name": "film", "weight": 1.0})


def job(styles: tuple[dict[str, Any], ...] = TWO) -> WithStyles:
    return WithStyles(model_id="wan", prompt="a fox", negative_prompt="", num_inference_steps=3, num_frames=9,
                      width=64, height=64, guidance_scale=3.0, fps=8, dit_layerwise_offload=True,
                      dit_cpu_offload=False, use_fsdp_inference=False, text_encoder_cpu_offload=True,
                      vae_cpu_offload=True, styles=styles)


def test_the_field_is_a_list_of_its_records() -> None:
    styles = EXTRA[-1]
    assert styles.is_list and [item.name for item in styles.items] == ["name", "weight"]
    assert not EXTRA[0].is_list and EXTRA[0].items == ()


def test_the_request_model_checks_each_record_and_the_count() -> None:
    model = request_model(EXTRA)
    body = model.model_validate({"model_id": "wan", "prompt": "a", "styles": [{"name": "ink", "weight": 0.5}]})
    assert body.model_dump()["styles"] == ({"name": "ink", "weight": 0.5},)
    defaulted = model.model_validate({"model_id": "wan", "prompt": "a", "styles": [{"name": "ink"}]})
    assert defaulted.model_dump()["styles"] == ({"name": "ink", "weight": 1.0},)
    for bad, where in [([{"name": "ink", "weight": 3}], ("styles", 0, "weight")),
                       ([{"name": "ink", "weight": float("nan")}], ("styles", 0, "weight")),
                       ([{"name": ""}], ("styles", 0, "name")),
                       ([{"name": "ink", "colour": "red"}], ("styles", 0, "colour")),
                       ([{"name": "a"}] * 4, ("styles",))]:
        with pytest.raises(ValidationError) as caught:
            model.model_validate({"model_id": "wan", "prompt": "a", "styles": bad})
        assert caught.value.errors()[0]["loc"] == where, bad


def test_the_wire_and_the_stored_json_give_the_tuple_back() -> None:
    wire = json.loads(json.dumps(to_wire(job())))
    assert wire["styles"] == [{"name": "ink", "weight": 0.5}, {"name": "film", "weight": 1.0}]
    assert from_wire(wire, WithStyles).styles == TWO
    with pytest.raises(WireError, match="styles"):
        from_wire(wire | {"styles": [{"name": "ink"}]}, WithStyles)  # a record without its weight
    row = {f.name: getattr(job(), f.name) for f in EXTRA if f.storage == "column"}
    row["params"] = json.dumps({"styles": wire["styles"]})
    assert params_of(type("Row", (), row)(), WithStyles).styles == TWO
    assert params_of(type("Row", (), row | {"params": "{}"})(), WithStyles).styles == ()  # stored before it


def test_the_line_shows_the_records_as_the_cli_takes_them_and_leaves_out_none() -> None:
    assert shown(TWO) == "ink:0.5, film:1"
    assert summarize(job(), fields=EXTRA).endswith(" · styled ink:0.5, film:1")
    assert "styled" not in summarize(job(()), fields=EXTRA)


def test_the_cli_flag_repeats() -> None:
    parser = argparse.ArgumentParser()
    add_job_flags(parser, EXTRA)
    args = parser.parse_args(["a fox", "--style", "ink:0.5", "--style", "film"])
    assert args.styles == [{"name": "ink", "weight": 0.5}, {"name": "film", "weight": 1.0}]
    assert parser.parse_args(["a fox"]).styles is None  # unset: the server's default


def test_api_models_serves_it_with_its_items_to_models_with_the_feature_only() -> None:
    styled = {f["name"]: f for f in fields_json(STYLED, Capacity(1), EXTRA)}
    assert styled["styles"]["type"] == "array" and styled["styles"]["max_length"] == 3
    assert [(item["name"], item["type"], item["default"]) for item in styled["styles"]["items"]] == \
        [("name", "string", None), ("weight", "number", 1.0)]
    assert "styles" not in {f["name"] for f in fields_json(PLAIN, Capacity(1), EXTRA)}
