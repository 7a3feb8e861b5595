"""The job spec (fastvideo_ui/spec) against what the hand-written code does today:
the same fields, one set of offload defaults that is what a job really runs
with, the card's summary, the MP4's settings, and a wire that drops nothing."""

from __future__ import annotations

import dataclasses
import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from spec_goldens import ADDED
from spec_goldens import CreateJobRequest as GoldenCreateJobRequest

from fastvideo_ui.api.schemas import CreateJobRequest
from fastvideo_ui.backends.base import ModelConfig
from fastvideo_ui.backends.settings_tag import settings_json
from fastvideo_ui.jobs.catalogue import Catalogue, PREVIEW
from fastvideo_ui.jobs.params import resolve_params
from fastvideo_ui.spec.fields import FIELDS, Group, JobParams
from fastvideo_ui.spec.rules import (
    EFFECTIVE_DEFAULTS,
    MOST_OFFLOAD,
    WireError,
    apply_off_when,
    fixed_defaults,
    from_wire,
    resolve_later,
    settings_of,
    summarize,
    to_wire,
)

ROOT = Path(__file__).resolve().parent.parent
WAN = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
NAMES = [f.name for f in FIELDS]
ORIGINAL = [name for name in NAMES if name not in ADDED]  # the fields the goldens know
# Today's hand-written lists, as they were before the spec replaced them (golden values).
GENERATION_FIELDS = ("prompt", "negative_prompt", "num_inference_steps", "num_frames", "height", "width",
                     "guidance_scale", "seed", "fps")
OFFLOAD_FIELDS = ("dit_layerwise_offload", "dit_cpu_offload", "use_fsdp_inference", "text_encoder_cpu_offload",
                  "vae_cpu_offload")
OVERRIDDEN_BY_LAYERWISE = ("dit_cpu_offload", "use_fsdp_inference")
FASTVIDEO_DEFAULTS = {"dit_layerwise_offload": True, "dit_cpu_offload": True, "use_fsdp_inference": False,
                      "text_encoder_cpu_offload": True, "vae_cpu_offload": True}
TODAYS_MOST_OFFLOAD = {"dit_layerwise_offload": True, "dit_cpu_offload": False, "use_fsdp_inference": False,
                       "text_encoder_cpu_offload": True, "vae_cpu_offload": True}
SETTING_FIELDS = ("prompt", "negative_prompt", "seed", "num_inference_steps", "width", "height", "num_frames",
                  "fps", "guidance_scale")
LAYERWISE_REFUSAL = ("has no effect while dit_layerwise_offload is on (FastVideo turns it off); "
                     "set dit_layerwise_offload to false to use it")


def todays_resolve_offload(asked: dict[str, bool | None]) -> tuple[dict[str, bool], list[tuple[str, str]]]:
    """backends/offload.py's resolve_offload as it was written by hand before the spec."""
    values = {name: FASTVIDEO_DEFAULTS[name] if asked.get(name) is None else bool(asked[name])
              for name in OFFLOAD_FIELDS}
    errors: list[tuple[str, str]] = []
    if values["dit_layerwise_offload"]:
        for name in OVERRIDDEN_BY_LAYERWISE:
            if asked.get(name):
                errors.append((name, LAYERWISE_REFUSAL))
            values[name] = False
    return values, errors


def params(**changes: Any) -> JobParams:
    values: dict[str, Any] = dict(
        model_id=WAN, prompt="a fox", negative_prompt="", num_inference_steps=600, num_frames=33, width=512,
        height=512, guidance_scale=5.0, seed=4242, fps=16, num_gpus=1, dit_layerwise_offload=True,
        dit_cpu_offload=False, use_fsdp_inference=False, text_encoder_cpu_offload=True, vae_cpu_offload=True,
        priority=0, retry_on_oom=False, webhook_url="https://user:pw@example.com/hook?k=v", image=None)
    return JobParams(**{**values, **changes})


def test_the_spec_imports_nothing_heavy() -> None:
    code = ("import sys, fastvideo_ui.spec.fields, fastvideo_ui.spec.rules, fastvideo_ui.spec.served; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('pydantic', 'sqlalchemy', 'fastapi', 'starlette', 'torch', 'rich', 'alembic', 'httpx')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT / "src")})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_spec_has_every_per_job_field_once_in_request_order() -> None:
    assert len(NAMES) == len(set(NAMES)) and len(ORIGINAL) == 20
    # What jobs/params.py's STORED_FIELDS listed before the spec (what a remix copies), plus model_id and
    # webhook_url: GENERATION_FIELDS, OFFLOAD_FIELDS, num_gpus, priority, retry_on_oom, image.
    stored_fields = ("prompt", "negative_prompt", "num_inference_steps", "num_frames", "height", "width",
                     "guidance_scale", "seed", "fps", "dit_layerwise_offload", "dit_cpu_offload",
                     "text_encoder_cpu_offload", "vae_cpu_offload", "use_fsdp_inference", "num_gpus", "priority",
                     "retry_on_oom", "image")
    assert set(ORIGINAL) == {"model_id", *stored_fields, "webhook_url"}
    # Today's request order, but for two intended moves: width before height (the dialog's order,
    # 7d274cc) and use_fsdp_inference where /api/models `options` (so the dialog's checks) has it.
    today = [name for name in GoldenCreateJobRequest.model_fields if name != "start"]
    moved = [name for name in today if name not in ("width", "use_fsdp_inference")]
    moved.insert(moved.index("height"), "width")
    moved.insert(moved.index("dit_cpu_offload") + 1, "use_fsdp_inference")
    assert ORIGINAL == moved


def test_groups_and_offloads_match_todays_lists() -> None:
    assert {f.name for f in FIELDS if f.group is Group.GENERATION} - ADDED == set(GENERATION_FIELDS)
    assert tuple(f.name for f in FIELDS if f.offload or f.off_when) == OFFLOAD_FIELDS
    assert tuple(f.name for f in FIELDS if f.off_when) == OVERRIDDEN_BY_LAYERWISE
    wan = Catalogue().find(WAN)
    assert wan is not None
    from fastvideo_ui.api.system import model_facts
    from fastvideo_ui.spec.served import Capacity, legacy_keys

    served = {spec.id: legacy_keys(model_facts(spec), Capacity(1))["options"] for spec in (wan, PREVIEW)}
    assert served == {wan.id: list(OFFLOAD_FIELDS), PREVIEW.id: []}


def test_the_raw_offload_defaults_are_fastvideos() -> None:
    raw = fixed_defaults()
    assert {name: raw[name] for name in OFFLOAD_FIELDS} == FASTVIDEO_DEFAULTS


@pytest.mark.parametrize("asked", [dict(zip(OFFLOAD_FIELDS, values, strict=True)) for values in
                                   itertools.product((None, False, True), repeat=len(OFFLOAD_FIELDS))])
def test_the_off_when_rule_resolves_as_resolve_offload_did(asked: dict[str, bool | None]) -> None:
    assert resolve_later(asked) == todays_resolve_offload(asked)


def test_apply_off_when_names_the_refused_field_in_todays_words() -> None:
    _, errors = apply_off_when({"dit_layerwise_offload": True, "dit_cpu_offload": True},
                               {"dit_cpu_offload": True})
    assert errors == todays_resolve_offload({"dit_cpu_offload": True})[1] == [("dit_cpu_offload", LAYERWISE_REFUSAL)]


def test_effective_defaults_are_what_a_job_that_says_nothing_runs_with() -> None:
    """The truth is what a created job stores: the request model's defaults,
    then resolve_params (resolve_offload). ModelConfig's defaults and
    /api/models' OFFLOAD_DEFAULTS agree; JobRow's Python column defaults do not
    (text_encoder and vae off), but a create always sets every offload field,
    so no job made through the API ever gets them."""
    body = CreateJobRequest.model_validate({"model_id": WAN, "prompt": "a fox"}).model_dump(exclude={"start"})
    for spec in (Catalogue().find(WAN), PREVIEW):
        assert spec is not None
        stored = resolve_params(spec, body, 1)
        assert set(OFFLOAD_FIELDS) <= set(stored)
        request_defaults = {name: body[name] for name in ("seed", "num_gpus", "priority", "retry_on_oom",
                                                          "webhook_url", "image")}
        assert {name: stored.get(name, request_defaults.get(name)) for name in EFFECTIVE_DEFAULTS} == \
            EFFECTIVE_DEFAULTS
    config = ModelConfig(WAN)
    assert {name: config.option(name) for name in OFFLOAD_FIELDS} == \
        {name: EFFECTIVE_DEFAULTS[name] for name in OFFLOAD_FIELDS}
    # What api/system.py served as OFFLOAD_DEFAULTS before /api/models' defaults were derived from the spec
    # (test_spec_served holds the served ones to the same values).
    assert resolve_later({})[0] == {name: EFFECTIVE_DEFAULTS[name] for name in OFFLOAD_FIELDS}


def test_most_offload_is_todays() -> None:
    assert MOST_OFFLOAD == TODAYS_MOST_OFFLOAD
    assert list(MOST_OFFLOAD) == list(TODAYS_MOST_OFFLOAD)


def test_summarize_is_the_cards_line() -> None:
    assert summarize(params()) == "512×512 · 33 frames @ 16 fps · 600 steps · cfg 5 · seed 4242"
    assert summarize(params(num_gpus=2)).endswith("· seed 4242 · 2 GPUs")


JOBS = [params(), params(num_gpus=2, guidance_scale=4.5, num_frames=1), params(num_inference_steps=1, seed=0),
        params(num_gpus=3, width=1280, height=720, guidance_scale=0.0)]


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run web/js/components/job-fields.js")
@pytest.mark.parametrize("model", [PREVIEW.id, WAN])
def test_summarize_is_word_for_word_what_the_web_ui_writes(model: str) -> None:
    """A card's line (job-fields.js summary, from the model's served fields) is summarize's; the golden
    text is test_summarize_is_the_cards_line's. The test holding them to today's format.js was this one."""
    from fastvideo_ui.api.system import model_facts
    from fastvideo_ui.spec.served import Capacity, fields_json

    spec = Catalogue().find(model)
    assert spec is not None
    fields = fields_json(model_facts(spec), Capacity(4))
    noun = "CPU slot" if spec.device_kind == "cpu" else "GPU"
    jobs = [dataclasses.asdict(job) for job in JOBS]
    module = json.dumps(str(ROOT / "src/fastvideo_ui/web/js/components/job-fields.js"))
    script = (f"import {{ summary }} from {module};"
              f"console.log(JSON.stringify({json.dumps(jobs)}.map((job) => summary(job, {json.dumps(fields)}, "
              f"{json.dumps(noun)}))))")
    done = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [summarize(job, noun) for job in JOBS]


def test_summarize_holds_every_fact_of_todays_created_log_line() -> None:
    """jobs/service.py logs "created: model M, 512x512, 33 frames, 600 steps, seed 4242"; the plan makes
    it "created: model M, " + summarize(...), which says the same and more (fps, cfg, devices)."""
    line = summarize(params())
    for fact in ("512×512", "33 frames", "600 steps", "seed 4242"):
        assert fact in line


def test_the_created_log_line_reads_like_the_card(server: Any) -> None:
    job = server.create(seed=4242, guidance_scale=4.5)
    lines = server.client.get(f"/api/jobs/{job['id']}/logs").json()["lines"]
    created = f"created: model {job['model_id']}, {job['width']}×{job['height']} · {job['num_frames']} frames @ " \
              f"{job['fps']} fps · {job['num_inference_steps']} steps · cfg 4.5 · seed 4242"
    assert any(line.endswith(created) for line in lines), lines
    assert summarize(job, "CPU slot") == created.split(", ", 1)[1]


def test_settings_of_is_todays_mp4_settings() -> None:
    job = params(negative_prompt="blur")
    today = {"model_id": job.model_id, **{name: getattr(job, name) for name in SETTING_FIELDS}}
    added = {f.name: getattr(job, f.name) for f in FIELDS if f.name in ADDED and f.restored}  # join the nine
    assert settings_of(job) == today | added
    assert settings_json(job, "j", "1.0") == {**today, **added, "job_id": "j", "version": "1.0"}
    assert "webhook_url" not in settings_of(job)


def test_the_wire_round_trips_without_the_secret() -> None:
    job = params()
    wire = to_wire(job)
    assert "webhook_url" not in wire and list(wire) == [name for name in NAMES if name != "webhook_url"]
    assert from_wire(json.loads(json.dumps(wire))) == dataclasses.replace(job, webhook_url=None)


@pytest.mark.parametrize("change", [lambda w: w.pop("fps"), lambda w: w.update(mystery=1),
                                    lambda w: w.update(webhook_url="https://x"), lambda w: w.update(fps="16"),
                                    lambda w: w.update(dit_cpu_offload=None)])
def test_the_wire_refuses_a_missing_unknown_or_mistyped_key(change: Any) -> None:
    wire = to_wire(params())
    change(wire)
    with pytest.raises(WireError):
        from_wire(wire)
