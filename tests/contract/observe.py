"""What the contract tests pin, observed the same way when the goldens are
captured (capture.py) and when they are checked (tests/test_contract.py): the
OpenAPI schemas clients build against, /api/models, a job's JSON, the kwargs
FastVideo is called with, the settings inside an MP4, `submit`'s flags and the
422s of bad creates. Each observation is plain JSON with what differs from run
to run (ids, times, paths, the package version) taken out or replaced by a
placeholder, so a golden compares equal until behaviour changes."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import PREVIEW, WAN, FakeFastVideo, Server

GOLDENS = Path(__file__).parent / "goldens"

# The in-process server the quick goldens are observed on: devices fixed by
# flags, so the machine's GPUs (or their absence) never change an answer.
SERVER_ARGS = ("--gpus", "none", "--cpu-slots", "1")
# The fake-FastVideo server of the Wan goldens (the `fastvideo` fixture's default).
FAKE_ARGS = ("--gpus", "0,1")

# A job's keys that differ every run: clock readings and how long things took.
VOLATILE_JOB_KEYS = frozenset({"id", "created_at", "queued_at", "started_at", "finished_at", "load_seconds"})
# /api/models keys that describe this machine, not the contract: the weights in
# its cache, and whether fastvideo is importable here.
VOLATILE_MODEL_KEYS = frozenset({"weights", "available", "reason"})

# A job with every generation setting given, so the MP4's tag carries them all.
PREVIEW_JOB = {"model_id": PREVIEW, "prompt": "a fox, \u00e9t\u00e9 \U0001f98a", "negative_prompt": "blurry",
               "num_inference_steps": 3, "num_frames": 9, "height": 64, "width": 96, "seed": 4242, "fps": 12,
               "guidance_scale": 3.5, "priority": 2}
WAN_JOB = {"model_id": WAN, "prompt": "a red fox in the snow", "height": 64, "width": 64, "num_frames": 5,
           "num_inference_steps": 4}

# Ten creates the server refuses, one rule each: field bounds, the prompt, the
# model, a model's own rules, a misspelt field and a missing one.
BAD_CREATES: dict[str, dict[str, Any]] = {
    "negative frames": {"num_frames": -1},
    "height under 8": {"height": 7},
    "width not a multiple of 8": {"width": 100},
    "blank prompt": {"prompt": "   "},
    "two-line prompt": {"prompt": "a fox\nin the snow"},
    "no prompt": {"prompt": None},
    "unknown model": {"model_id": "no/such-model"},
    "frames not a number": {"num_frames": "many"},
    "dit offload under layerwise offload": {"dit_cpu_offload": True},
    # (Not a name too far from any: its hint lists every field, which a new field lengthens.)
    "misspelt fields": {"num_inference_step": 5, "negative": "blurry"},
}


def scrub(value: Any, replace: dict[str, str], drop: frozenset[str] = frozenset()) -> Any:
    """`value` without the keys in `drop` (at any depth), each `replace` key in
    its strings replaced by its placeholder."""
    if isinstance(value, dict):
        return {key: scrub(item, replace, drop) for key, item in value.items() if key not in drop}
    if isinstance(value, list):
        return [scrub(item, replace, drop) for item in value]
    if isinstance(value, str):
        for old, new in replace.items():
            value = value.replace(old, new)
    return value


def _job_placeholders(server: Server, job: dict[str, Any]) -> dict[str, str]:
    return {job["id"]: "<id>", str(server.data_dir): "<data>"}


def without_descriptions(schema: Any) -> Any:
    """A JSON schema minus its prose: descriptions may gain text, types and required may not.
    `required` is a set in JSON Schema, so it is compared sorted."""
    if isinstance(schema, dict):
        return {key: sorted(item) if key == "required" else without_descriptions(item)
                for key, item in schema.items() if key != "description"}
    if isinstance(schema, list):
        return [without_descriptions(item) for item in schema]
    return schema


def openapi(server: Server) -> dict[str, Any]:
    schemas = server.client.get("/openapi.json").json()["components"]["schemas"]
    # The plan lets descriptions gain text (the spec's help); everything else of the request stays whole.
    return {"CreateJobRequest": without_descriptions(schemas["CreateJobRequest"]),
            "Job": without_descriptions(schemas["Job"]),
            "VideoSettings": without_descriptions(schemas["VideoSettings"])}


def models(server: Server) -> list[dict[str, Any]]:
    return scrub(server.client.get("/api/models").json(), {}, VOLATILE_MODEL_KEYS)


def preview_job(server: Server) -> dict[str, Any]:
    """The preview job as created (pending), then completed, then the settings in its MP4."""
    created = server.create(**PREVIEW_JOB)
    server.client.post(f"/api/jobs/{created['id']}/start")
    done = server.wait_status(created["id"], "completed", "failed")
    placeholders = _job_placeholders(server, created)
    video = server.client.get(f"/api/jobs/{created['id']}/video").content
    read = server.client.post("/api/media/settings", content=video, headers={"Content-Type": "video/mp4"})
    assert read.status_code == 200, read.text
    settings = read.json()
    assert settings["settings"].pop("version")  # the package's version: changes with every release
    return {"created": scrub(created, placeholders, VOLATILE_JOB_KEYS),
            "completed": scrub(done, placeholders, VOLATILE_JOB_KEYS),
            "mp4_settings": scrub(settings, placeholders)}


def bad_creates(server: Server) -> dict[str, Any]:
    answers = {}
    for name, change in BAD_CREATES.items():
        body = {key: value for key, value in ({"model_id": PREVIEW, "prompt": "a cat"} | change).items()
                if value is not None}
        response = server.client.post("/api/jobs", json=body)
        answers[name] = {"status": response.status_code, "body": response.json()}
    return answers


def _type_name(kind: Any) -> str | None:
    if kind is None:
        return None
    from fastvideo_ui.cli_flags import finite_float

    if kind is finite_float:  # float, with NaN and the infinities refused (they crashed the client: 113bd2e)
        return "float"
    return kind.__name__ if kind in (int, float, str) else "text rule"


def submit_flags() -> dict[str, Any]:
    """Each `submit` argument by dest: how it is typed, and the job fields it sets."""
    from fastvideo_ui.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    submit = commands.choices["submit"]
    job_fields = {flag.dest: list(flag.fields) for flag in submit.get_default("job_flags")}
    return {action.dest: {"flags": list(action.option_strings), "action": type(action).__name__,
                          "type": _type_name(action.type), "default": action.default,
                          "nargs": action.nargs, "required": action.required,
                          "job_fields": job_fields.get(action.dest)}
            for action in submit._actions if not isinstance(action, argparse._HelpAction)}


def wan_job(fake: FakeFastVideo) -> dict[str, Any]:
    """A Wan job on the fake FastVideo: its JSON done, and what FastVideo was called with."""
    server = fake.server
    job = server.create(**WAN_JOB, start=True)
    done = server.wait_status(job["id"], "completed", "failed")
    placeholders = _job_placeholders(server, job)
    (load,) = fake.events("load")
    (generate,) = fake.events("generate")
    return {"completed": scrub(done, placeholders, VOLATILE_JOB_KEYS),
            "fastvideo": scrub({"load": {"model": load["model"], "kwargs": load["kwargs"]},
                                "generate": {"model": generate["model"], "prompt": generate["prompt"],
                                             "kwargs": generate["kwargs"]}}, placeholders)}


# name -> how it is observed: on the quick in-process server, with no server, or on the fake FastVideo.
QUICK: dict[str, Callable[[Server], Any]] = {
    "openapi": openapi, "models": models, "preview_job": preview_job, "bad_creates": bad_creates}
OFFLINE: dict[str, Callable[[], Any]] = {"submit_flags": submit_flags}
FAKE_FASTVIDEO: dict[str, Callable[[FakeFastVideo], Any]] = {"wan_job": wan_job}
