"""The pydantic models derived from the spec (api/spec_models.py), which the
app serves, against the hand-written ones they replaced (kept as goldens in
spec_goldens.py): the same create schema and the same 422 bodies for bad
creates (through the app's own error handler), and the same documented Job."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from spec_goldens import ADDED, CreateJobRequest, Job

from fastvideo_ui.api import errors, openapi, schemas
from fastvideo_ui.api.spec_models import job_model, request_model
from fastvideo_ui.spec.fields import FIELDS

# The derivation over the fields the goldens know (a field added since is stored in the params JSON,
# and test_spec_extra_field holds what a new one gets); the app's own models over all of them.
ORIGINAL = tuple(f for f in FIELDS if f.name not in ADDED)
Derived = request_model(ORIGINAL)


def test_the_app_serves_the_derived_models() -> None:
    assert schemas.CreateJobRequest.model_json_schema() == request_model(FIELDS).model_json_schema()
    assert openapi.Job.model_json_schema() == job_model(FIELDS).model_json_schema()
GOOD = {"model_id": "fastvideo-ui/preview", "prompt": "a fox"}


def _without(schema: Any, keys: tuple[str, ...]) -> Any:
    if isinstance(schema, dict):
        return {key: _without(value, keys) for key, value in schema.items() if key not in keys}
    if isinstance(schema, list):
        return [_without(value, keys) for value in schema]
    return schema


def test_the_create_schema_is_todays_but_for_descriptions_and_order() -> None:
    today, derived = CreateJobRequest.model_json_schema(), Derived.model_json_schema()
    # Today's properties have none; the derived ones gain the spec's help.
    assert not any("description" in prop for prop in today["properties"].values())
    assert all(prop.get("description") for prop in derived["properties"].values())
    assert _without(derived["properties"], ("description",)) == today["properties"]
    assert {key: value for key, value in derived.items() if key not in ("properties", "description")} == \
        {key: value for key, value in today.items() if key not in ("properties", "description")}
    assert list(derived["properties"])[-1] == "start"


@pytest.fixture(scope="module")
def client() -> Any:
    app = FastAPI()
    errors.install(app)

    @app.post("/today")
    def _today(body: CreateJobRequest) -> dict[str, Any]:
        return body.model_dump()

    @app.post("/derived")
    def _derived(body: Derived) -> dict[str, Any]:  # type: ignore[valid-type]
        return body.model_dump()  # type: ignore[no-any-return,attr-defined]

    with TestClient(app) as client:
        yield client


BAD = [
    {**GOOD, "prompt": "a fox\nin snow"},
    {**GOOD, "prompt": "   "},
    {**GOOD, "prompt": "x" * 10_001},
    {**GOOD, "negative_prompt": "blur\r\nnoise"},
    {**GOOD, "seed": 2**32},
    {**GOOD, "seed": -1},
    {**GOOD, "width": 7},
    {**GOOD, "height": 12},
    {**GOOD, "priority": 101},
    {**GOOD, "num_gpus": 0},
    {**GOOD, "num_inference_steps": "ten"},
    {**GOOD, "dit_cpu_offload": "maybe"},
    {**GOOD, "num_inference_step": 5},
    {**GOOD, "image": "not-a-hash"},
    {**GOOD, "webhook_url": "https://example.com/" + "x" * 2000},
    {**GOOD, "model_id": ""},
    {"model_id": "fastvideo-ui/preview"},
    {**GOOD, "start": "soon", "retry_on_oom": 3},
    [],
]
RAW = ['{"model_id": "fastvideo-ui/preview", "prompt": "a", "guidance_scale": NaN}',
       '{"model_id": "fastvideo-ui/preview", "prompt": "a", "guidance_scale": -Infinity}']


@pytest.mark.parametrize("content", [json.dumps(body) for body in BAD] + RAW)
def test_a_bad_create_gets_the_same_422(client: TestClient, content: str) -> None:
    headers = {"content-type": "application/json"}
    today = client.post("/today", content=content, headers=headers)
    derived = client.post("/derived", content=content, headers=headers)
    assert today.status_code == 422
    assert derived.status_code == today.status_code
    assert _in_field_order(derived.json()) == _in_field_order(today.json())


def _in_field_order(body: dict[str, Any]) -> Any:
    """Several errors come in property order, which moved for width and start: compare them as a set."""
    detail = body["detail"]
    return sorted(detail, key=lambda error: json.dumps(error["loc"])) if isinstance(detail, list) else detail


def test_an_unknown_field_lists_the_same_fields(client: TestClient) -> None:
    """Only their order differs (width before height, start last)."""
    bodies = [client.post(path, json={**GOOD, "zzz": 1}).json()["detail"][0]["msg"] for path in ("/today", "/derived")]
    prefix = "unknown field; the fields are "
    assert all(body.startswith(prefix + "model_id, prompt,") for body in bodies)
    today, derived = (body[len(prefix):].split(", ") for body in bodies)
    assert sorted(today) == sorted(derived)


@pytest.mark.parametrize("body", [GOOD, {**GOOD, "prompt": "  a fox \t"}, {
    **GOOD, "negative_prompt": "blur", "num_inference_steps": 3, "num_frames": 9, "width": 64, "height": 72,
    "guidance_scale": 4.5, "seed": 0, "fps": 8, "num_gpus": 2, "dit_layerwise_offload": False,
    "dit_cpu_offload": True, "use_fsdp_inference": True, "text_encoder_cpu_offload": False,
    "vae_cpu_offload": False, "start": True, "priority": -100, "retry_on_oom": True,
    "webhook_url": "https://example.com/hook", "image": "a" * 64}])
def test_a_good_create_gives_the_same_values(client: TestClient, body: dict[str, Any]) -> None:
    today, derived = client.post("/today", json=body), client.post("/derived", json=body)
    assert today.status_code == derived.status_code == 200
    assert derived.json() == today.json()


def test_the_documented_job_has_todays_properties_types_and_required() -> None:
    today, derived = Job.model_json_schema(), job_model(ORIGINAL).model_json_schema()
    assert _without(derived["properties"], ("description", "title")) == \
        _without(today["properties"], ("description", "title"))
    assert sorted(derived["required"]) == sorted(today["required"])
    # Every description today's Job has, the derived one has word for word.
    for name, prop in today["properties"].items():
        if "description" in prop:
            assert derived["properties"][name]["description"] == prop["description"], name
