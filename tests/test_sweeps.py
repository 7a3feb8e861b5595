"""Parameter sweeps (issue 28): the cartesian product of some fields' values
over one create body, made as jobs queued together in product order; every
value checked as a create body would be, at most 64 jobs; stopped, deleted,
listed; and `fastvideo-ui sweep`."""

from __future__ import annotations

import os
import subprocess
import sys
import asyncio
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import LONG, PREVIEW, InProcessServer, Server, wait_for
from fastvideo_ui.api.sweeps import check_create_body
from fastvideo_ui.cli import main as cli_main
from fastvideo_ui.jobs.catalogue import Catalogue, ModelSpec
from fastvideo_ui.jobs.params import InvalidParams, resolve_params
from fastvideo_ui.jobs.service import JobService, QueueFull
from fastvideo_ui.jobs.sweep_plan import InvalidSweep, plan

BASE = {"model_id": PREVIEW, "prompt": "a red fox in the snow", "height": 64, "width": 64, "num_frames": 4,
        "num_inference_steps": 3}
WAN = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
FAST_WAN = "FastVideo/FastWan2.1-T2V-1.3B-Diffusers"


def post(server: Server, axes: dict[str, Any], base: dict[str, Any] | None = None, start: bool = True) -> Any:
    return server.client.post("/api/sweeps", json={"base": BASE if base is None else base, "axes": axes,
                                                   "start": start})


def made(server: Server, axes: dict[str, Any], **options: Any) -> dict[str, Any]:
    response = post(server, axes, **options)
    assert response.status_code == 201, response.text
    return response.json()


def refused(server: Server, axes: dict[str, Any], **options: Any) -> list[tuple[list[Any], str]]:
    response = post(server, axes, **options)
    assert response.status_code == 422, response.text
    return [(error["loc"], error["msg"]) for error in response.json()["detail"]]


def nothing_made(server: Server) -> bool:
    return server.client.get("/api/jobs").json() == [] and server.client.get("/api/sweeps").json() == []


def queue(server: Server) -> list[str]:
    return [job["id"] for job in server.client.get("/api/queue").json()["jobs"]]


def test_a_sweep_is_the_product_in_axis_order_queued_together(server: Server) -> None:
    server.client.post("/api/queue/pause")  # all of them stay queued, in order
    sweep = made(server, {"guidance_scale": [3, 5, 7], "seed": [1, 2]})
    assert list(sweep["axes"]) == ["guidance_scale", "seed"]  # the order given
    assert sweep["axes"] == {"guidance_scale": [3.0, 5.0, 7.0], "seed": [1, 2]} and sweep["base"] == BASE
    cells = sweep["jobs"]
    assert [(cell["coords"]["guidance_scale"], cell["coords"]["seed"]) for cell in cells] == [
        (3, 1), (3, 2), (5, 1), (5, 2), (7, 1), (7, 2)]  # the first axis outermost
    for position, cell in enumerate(cells, 1):
        job = cell["job"]
        assert cell["id"] == job["id"] and cell["status"] == job["status"] == "queued"
        assert (job["guidance_scale"], job["seed"]) == (cell["coords"]["guidance_scale"], cell["coords"]["seed"])
        assert job["sweep_id"] == sweep["id"] and job["prompt"] == BASE["prompt"] and job["width"] == 64
        assert job["queue_position"] == position
    ids = [cell["id"] for cell in cells]
    assert queue(server) == ids
    listed = server.client.get("/api/jobs", params={"sweep": sweep["id"]})
    assert sorted(job["id"] for job in listed.json()) == sorted(ids) and listed.headers["x-total-count"] == "6"
    server.create(start=True)  # a job of no sweep is not among them
    assert len(server.client.get("/api/jobs", params={"sweep": sweep["id"]}).json()) == 6
    again = server.client.get(f"/api/sweeps/{sweep['id']}").json()
    assert [(cell["id"], cell["coords"]) for cell in again["jobs"]] == [(cell["id"], cell["coords"]) for cell in cells]
    # Axes the other way round: the seed outermost.
    other = made(server, {"seed": [1, 2], "guidance_scale": [3, 5]}, start=False)
    assert [tuple(cell["coords"].values()) for cell in other["jobs"]] == [(1, 3), (1, 5), (2, 3), (2, 5)]
    assert {cell["status"] for cell in other["jobs"]} == {"pending"}
    server.client.post("/api/queue/resume")
    for job_id in ids:
        server.wait_status(job_id, "completed")
    listed_sweeps = server.client.get("/api/sweeps").json()
    assert [entry["id"] for entry in listed_sweeps] == [other["id"], sweep["id"]]  # newest first
    assert (listed_sweeps[1]["total"], listed_sweeps[1]["counts"]) == (6, {"completed": 6})
    assert (listed_sweeps[0]["total"], listed_sweeps[0]["counts"]) == (4, {"pending": 4})
    # Light: of the base only the model and the prompt (GET /api/sweeps/{id} has the rest).
    assert listed_sweeps[1]["axes"] == sweep["axes"]
    assert listed_sweeps[1]["base"] == {"model_id": PREVIEW, "prompt": BASE["prompt"]}


def test_each_value_is_checked_as_a_create_body_and_a_bad_one_makes_nothing(server: Server) -> None:
    assert refused(server, {"guidance_scale": [3, 99], "seed": [1, 2]}) == [
        (["body", "axes", "guidance_scale"], "guidance_scale=99: must be between 0 and 30 for fastvideo-ui/preview")]
    assert refused(server, {"seed": ["x", -1, 2]}) == [
        (["body", "axes", "seed"], 'seed="x": Input should be a valid integer, unable to parse string as an integer'),
        (["body", "axes", "seed"], "seed=-1: Input should be greater than or equal to 0")]
    assert refused(server, {"height": [64, 63], "width": [64, 72]}) == [
        (["body", "axes", "height"], "height=63: Input should be a multiple of 8")]
    prompts = refused(server, {"prompt": ["a cat", " ", "two\nlines"]}, base={**BASE, "prompt": None})
    assert [loc for loc, _ in prompts] == [["body", "axes", "prompt"]] * 2
    assert prompts[0][1] == 'prompt=" ": must not be empty' and prompts[1][1].startswith('prompt="two\\nlines": must')
    # The base: every combination breaks it, so it is the base's.
    assert refused(server, {"seed": [1, 2]}, base={**BASE, "num_inference_steps": 0}) == [
        (["body", "base", "num_inference_steps"], "Input should be greater than or equal to 1")]
    assert refused(server, {"seed": [1]}, base={**BASE, "guidance": 3}) == [
        (["body", "base", "guidance"], "unknown field; did you mean guidance_scale?")]
    assert refused(server, {"seed": [1]}, base={**BASE, "start": True})[0][0] == ["body", "base", "start"]
    assert refused(server, {"seed": [1]}, base={"prompt": "no model"})[0] == (
        ["body", "base", "model_id"], "Field required")
    # The axes themselves.
    assert refused(server, {"guidnce_scale": [3]}) == [
        (["body", "axes", "guidnce_scale"], "unknown axis; did you mean guidance_scale?")]
    assert "an axis is a job field (model_id, prompt" in refused(server, {"colour": ["red"]})[0][1]
    assert refused(server, {"seed": []}) == [(["body", "axes", "seed"], "give a list of at least one value")]
    assert refused(server, {"seed": [1, 2, 1]}) == [
        (["body", "axes", "seed"], "seed=1 is given twice: give each value once")]
    assert refused(server, {"guidance_scale": [1, 1.0]}) == [
        (["body", "axes", "guidance_scale"], "guidance_scale=1.0 is guidance_scale=1 once stored: give each value "
                                             "once")]
    assert refused(server, {"seed": 3})[0][0] == ["body", "axes", "seed"]  # not a list
    # What JSON can say and UTF-8 cannot carry back (a lone surrogate) is named escaped, not a 500.
    for axes, loc, said in (('{"\\ud800": [1]}', "\\ud800", "unknown axis"),
                            ('{"prompt": ["\\udfff"]}', "prompt", 'prompt="\\udfff": Input should be a valid string')):
        lone = server.client.post("/api/sweeps", headers={"content-type": "application/json"},
                                  content=f'{{"base": {{"model_id": "{PREVIEW}"}}, "axes": {axes}}}')
        assert lone.status_code == 422 and lone.json()["detail"][0]["loc"] == ["body", "axes", loc]
        assert lone.json()["detail"][0]["msg"].startswith(said)
    assert refused(server, {})[0][0] == ["body", "axes"]
    assert nothing_made(server)


def test_at_most_64_jobs_and_the_count_is_said(server: Server) -> None:
    assert refused(server, {"seed": list(range(13)), "guidance_scale": [1, 2, 3, 4, 5]}) == [
        (["body", "axes"], "this sweep makes 65 jobs; at most 64")]
    assert nothing_made(server)
    sweep = made(server, {"seed": list(range(16)), "guidance_scale": [1, 2, 3, 4]}, start=False)
    assert len(sweep["jobs"]) == 64 and len({cell["id"] for cell in sweep["jobs"]}) == 64


@pytest.fixture
def small_queue(tmp_path: Path) -> Iterator[Server]:
    running = InProcessServer(tmp_path / "small", ["--max-queued", "5"])
    try:
        yield running.start()
    finally:
        running.terminate()
        running.client.close()


def test_a_sweep_is_queued_whole_or_not_at_all(small_queue: Server) -> None:
    server = small_queue
    server.client.post("/api/queue/pause")
    server.create(start=True)
    full = post(server, {"seed": [1, 2, 3, 4, 5]})
    assert full.status_code == 429 and full.json()["detail"] == (
        "The queue has room for 4 more jobs (1 waiting, the limit is 5); this sweep would add 5")
    assert len(server.client.get("/api/jobs").json()) == 1 and server.client.get("/api/sweeps").json() == []
    assert len(made(server, {"seed": [1, 2, 3, 4, 5]}, start=False)["jobs"]) == 5  # pending: no room needed
    assert len(made(server, {"seed": [1, 2, 3, 4]})["jobs"]) == 4  # exactly to the cap
    assert len(queue(server)) == 5


def _model(model_id: str) -> ModelSpec:
    found = Catalogue().find(model_id)
    assert found is not None
    return found


def _checked(asked: Any) -> tuple[ModelSpec, dict[str, Any]]:
    """JobService.checked's model check and resolution, for a server that can run FastVideo's models."""
    spec = _model(asked["model_id"])
    return spec, resolve_params(spec, asked, device_count=4)


def test_a_base_field_an_axis_sets_is_not_stored_unchecked(server: Server) -> None:
    """The axis's values replace it in every job, so nothing checks it: it is left out of the stored
    base, not kept as NaN (which JSON cannot store: a 500) or as 250 KB of junk."""
    raw = server.client.post("/api/sweeps", headers={"content-type": "application/json"},
                             content=f'{{"base": {{"model_id": "{PREVIEW}", "prompt": "a fox", "seed": NaN}}, '
                                     f'"axes": {{"seed": [1, 2]}}, "start": false}}')
    assert raw.status_code == 201, raw.text
    assert raw.json()["base"] == {"model_id": PREVIEW, "prompt": "a fox"}
    assert [cell["job"]["seed"] for cell in raw.json()["jobs"]] == [1, 2]
    junk = made(server, {"seed": [1, 2]}, base={**BASE, "seed": ["x" * 1000] * 250}, start=False)
    assert "seed" not in junk["base"] and junk["base"] == {k: v for k, v in BASE.items() if k != "seed"}
    stored = server.client.get(f"/api/sweeps/{junk['id']}")
    assert stored.status_code == 200 and len(stored.content) < 20_000 and "xxxx" not in stored.text
    assert server.client.get("/api/sweeps").status_code == 200
    # A LoRA's strength an axis sets: the item is kept, less that strength.
    lora_base = {"model_id": WAN, "prompt": "a fox", "loras": [{"lora": "org/repo", "strength": float("nan")}]}
    lora = plan(lora_base, {"lora_strength": [0.5, 1]}, check_create_body, _checked)
    assert lora.base == {"model_id": WAN, "prompt": "a fox", "loras": [{"lora": "org/repo"}]}
    assert lora_base["loras"][0]["strength"] != 0  # the given base is not changed (NaN is no number)


def test_a_huge_axis_is_refused_before_any_value_is_looked_at(server: Server) -> None:
    class Untouchable(list[Any]):
        def __iter__(self) -> Any:
            raise AssertionError("a value was looked at")

    with pytest.raises(InvalidSweep) as caught:
        plan(BASE, {"seed": Untouchable([1] * 86000)}, check_create_body, _checked)
    assert caught.value.errors == [(("axes",), "this sweep makes 86000 jobs; at most 64")]
    # Through the API: a short 422, not 9 MB of "given twice".
    huge = post(server, {"seed": [[]] * 86000})
    assert huge.status_code == 422 and len(huge.content) < 500
    assert huge.json()["detail"] == [{"type": "value_error", "loc": ["body", "axes"],
                                      "msg": "this sweep makes 86000 jobs; at most 64"}]
    # Thousands of axes multiply to a number of thousands of digits: said as "more than".
    many = post(server, {f"a{i}": [1, 2, 3] for i in range(9000)})
    assert many.status_code == 422 and many.json()["detail"][0]["msg"] == (
        "this sweep makes more than 1,000,000,000,000,000 jobs; at most 64")
    # One duplicate per axis, however many there are.
    assert refused(server, {"seed": [1] * 64}) == [
        (["body", "axes", "seed"], "seed=1 is given twice: give each value once")]
    # A long unknown name is cut in the loc; thousands of them give a short 422.
    long_name = refused(server, {"x" * 100_000: [1]})
    assert long_name[0][0] == ["body", "axes", "x" * 59 + "…"] and len(long_name[0][1]) < 2000
    unknown = post(server, {f"colour{i}": [1] for i in range(5000)})
    assert unknown.status_code == 422 and len(unknown.json()["detail"]) == 21
    assert unknown.json()["detail"][-1] == {"type": "value_error", "loc": ["body"], "msg": "and 4980 more problems"}
    assert nothing_made(server)


def test_the_list_is_paged_and_light(server: Server) -> None:
    long_prompt = "a fox " * 100  # 600 characters
    ids = [made(server, {"seed": [1, 2]}, base={**BASE, "prompt": long_prompt}, start=False)["id"]]
    ids += [made(server, {"prompt": [long_prompt, "a cat"], "guidance_scale": [3]}, start=False)["id"]]
    ids += [made(server, {"seed": [3]}, start=False)["id"]]
    first = server.client.get("/api/sweeps", params={"limit": 2})
    assert first.status_code == 200 and first.headers["x-total-count"] == "3"
    assert [sweep["id"] for sweep in first.json()] == ids[:0:-1]  # newest first
    assert first.headers["x-next-before"] == ids[1]
    assert first.headers["link"] == f'</api/sweeps?limit=2&before={ids[1]}>; rel="next"'
    rest = server.client.get("/api/sweeps", params={"limit": 2, "before": ids[1]})
    assert [sweep["id"] for sweep in rest.json()] == ids[:1] and "link" not in rest.headers
    assert rest.headers["x-total-count"] == "3" and "x-next-before" not in rest.headers
    # Each sweep light: the base's model and prompt only, a long text cut to 120 characters.
    cut = long_prompt[:119] + "…"
    assert rest.json()[0] == {"id": ids[0], "created_at": rest.json()[0]["created_at"],
                              "base": {"model_id": PREVIEW, "prompt": cut}, "axes": {"seed": [1, 2]},
                              "total": 2, "counts": {"pending": 2}}
    assert first.json()[1]["axes"] == {"prompt": [cut, "a cat"], "guidance_scale": [3.0]}
    assert first.json()[1]["base"] == {"model_id": PREVIEW}
    assert len(server.client.get("/api/sweeps").json()) == 3  # 50 by default
    for params, field in (({"limit": 201}, "limit"), ({"limit": 0}, "limit"), ({"before": str(uuid.uuid4())}, "before"),
                          ({"before": "nonsense"}, "before")):
        refused_page = server.client.get("/api/sweeps", params=params)
        assert refused_page.status_code == 422 and refused_page.json()["detail"][0]["loc"][-1] == field


def test_a_sweep_too_big_for_the_queue_says_how_much_room_there_is() -> None:
    assert str(QueueFull(100, 64, 64)) == (
        "The queue has room for 36 more jobs (64 waiting, the limit is 100); this sweep would add 64")
    assert str(QueueFull(100, 99, 2)) == (
        "The queue has room for 1 more job (99 waiting, the limit is 100); this sweep would add 2")
    assert str(QueueFull(100, 100, 2)).startswith("The queue has room for 0 more jobs (100 waiting")
    assert str(QueueFull(2)) == "The queue is full: 2 jobs are already waiting; start this one when some have run"


def test_a_loras_strength_and_the_model_are_axes() -> None:
    base = {"model_id": WAN, "prompt": "a fox", "loras": [{"lora": "org/repo"}, {"lora": "ink", "strength": 0.3}]}
    sweep = plan(base, {"lora_strength": [0.5, 1], "loras.1.strength": [-1, 2]}, check_create_body, _checked)
    assert [job.coords for job in sweep.jobs] == [
        {"lora_strength": 0.5, "loras.1.strength": -1.0}, {"lora_strength": 0.5, "loras.1.strength": 2.0},
        {"lora_strength": 1.0, "loras.1.strength": -1.0}, {"lora_strength": 1.0, "loras.1.strength": 2.0}]
    assert [[lora["strength"] for lora in job.params["loras"]] for job in sweep.jobs] == [
        [0.5, -1.0], [0.5, 2.0], [1.0, -1.0], [1.0, 2.0]]
    assert [lora["lora"] for lora in sweep.jobs[0].params["loras"]] == ["org/repo", "ink.safetensors"]
    with pytest.raises(InvalidSweep) as caught:
        plan(base, {"lora_strength": [5, 1]}, check_create_body, _checked)
    assert caught.value.errors == [(("axes", "lora_strength"), "lora_strength=5: Input should be less than or "
                                                               "equal to 4")]
    with pytest.raises(InvalidSweep) as caught:
        plan(base, {"lora_strength": [1], "loras.0.strength": [2]}, check_create_body, _checked)
    assert caught.value.errors == [(("axes", "loras.0.strength"), "varies what axis lora_strength varies: give "
                                                                  "its values on one axis")]
    with pytest.raises(InvalidSweep) as caught:
        plan(base, {"loras.2.strength": [1]}, check_create_body, _checked)
    assert "which the base does not have" in caught.value.errors[0][1]
    # Each model with its own defaults for what the base leaves out.
    models = plan({"prompt": "a fox"}, {"model_id": [WAN, FAST_WAN], "seed": [1]}, check_create_body, _checked)
    assert [(job.spec.id, job.params["num_inference_steps"]) for job in models.jobs] == [(WAN, 50), (FAST_WAN, 3)]
    # A value only some models refuse is said on the axis that brings it.
    with pytest.raises(InvalidSweep) as caught:
        plan({**base, "model_id": None}, {"seed": [1, 2], "model_id": [WAN, PREVIEW]}, check_create_body, _checked)
    assert caught.value.errors == [(("axes", "model_id"), f'model_id="{PREVIEW}": loras: loras does not apply to '
                                                          f'{PREVIEW}')]


def test_a_rule_broken_only_by_values_together_is_said_where_it_belongs() -> None:
    def checked(asked: Any) -> tuple[ModelSpec, dict[str, Any]]:
        problems = [("num_gpus", "too many for this seed")] if asked["seed"] == 2 else []
        if asked["seed"] == 3 and asked["guidance_scale"] == 5:
            problems.append(("fps", "not with this pair"))
        if problems:
            raise InvalidParams(problems)
        return _checked(asked)

    with pytest.raises(InvalidSweep) as caught:
        plan(BASE, {"seed": [1, 2, 3], "guidance_scale": [4, 5]}, check_create_body, checked)
    assert caught.value.errors == [
        (("axes", "seed"), "seed=2: num_gpus: too many for this seed"),  # whatever the guidance: the seed's
        (("axes",), "seed=3, guidance_scale=5: fps: not with this pair")]


def test_a_lora_or_model_axis_through_the_api(server: Server) -> None:
    assert refused(server, {"lora_strength": [0.5, 1]}) == [
        (["body", "axes", "lora_strength"], "varies the strength of base.loras[0], which the base does not have: "
                                            "add it to base.loras")]
    assert refused(server, {"lora_strength": [0.5, 1]}, base={**BASE, "loras": [{"lora": "org/repo"}]}) == [
        (["body", "base", "loras"], "loras does not apply to fastvideo-ui/preview")]
    wan = refused(server, {"model_id": [PREVIEW, WAN]})
    assert wan[0][0] == ["body", "axes", "model_id"] and wan[0][1].startswith(f'model_id="{WAN}": {WAN} cannot run')
    assert nothing_made(server)


def test_a_sweep_stopped_halfway(server: Server) -> None:
    sweep = made(server, {"seed": [1, 2, 3]}, base={**BASE, **LONG})
    first, *rest = (cell["id"] for cell in sweep["jobs"])
    server.wait_status(first, "running")
    assert all(server.job(job_id)["status"] == "queued" for job_id in rest)
    stopped = server.client.post(f"/api/sweeps/{sweep['id']}/stop")
    assert stopped.status_code == 200 and stopped.json()["id"] == sweep["id"]
    assert [cell["status"] for cell in stopped.json()["jobs"]][1:] == ["stopped", "stopped"]
    server.wait_status(first, "stopped", timeout=30)
    for job_id in rest:  # taken out of the queue before the running one stopped: none of them started
        job = server.job(job_id)
        assert job["status"] == "stopped" and job["started_at"] is None
        assert "stopped: taken out of the queue" in server.log_text(job_id)
    assert queue(server) == []
    assert server.client.post(f"/api/sweeps/{sweep['id']}/stop").status_code == 200  # ended jobs are skipped
    counts = server.client.get("/api/sweeps").json()[0]["counts"]
    assert counts == {"stopped": 3}


def test_starting_a_sweep_queues_its_pending_stopped_and_failed_jobs_in_order(server: Server) -> None:
    sweep = made(server, {"seed": [1, 2, 3]}, start=False)
    ids = [cell["id"] for cell in sweep["jobs"]]
    server.client.post("/api/queue/pause")
    started = server.client.post(f"/api/sweeps/{sweep['id']}/start")
    assert started.status_code == 200 and [cell["status"] for cell in started.json()["jobs"]] == ["queued"] * 3
    assert queue(server) == ids  # in product order
    assert server.client.post(f"/api/sweeps/{sweep['id']}/stop").status_code == 200
    assert [server.job(job_id)["status"] for job_id in ids] == ["stopped"] * 3
    assert server.client.post(f"/api/sweeps/{sweep['id']}/start").status_code == 200  # again, after a stop
    assert queue(server) == ids
    assert server.client.post(f"/api/sweeps/{sweep['id']}/start").status_code == 200  # queued ones are left be
    assert queue(server) == ids
    assert server.client.post(f"/api/sweeps/{uuid.uuid4()}/start").status_code == 404


def test_deleting_a_sweep_deletes_its_jobs_and_a_job_deleted_alone_leaves_its_cell(server: Server) -> None:
    pending = made(server, {"seed": [1, 2]}, start=False)
    gone, kept = (cell["id"] for cell in pending["jobs"])
    assert server.client.delete(f"/api/jobs/{gone}").status_code == 200
    cells = server.client.get(f"/api/sweeps/{pending['id']}").json()["jobs"]
    assert [(cell["id"], cell["status"], cell["job"] is None) for cell in cells] == [
        (gone, "deleted", True), (kept, "pending", False)]
    assert cells[0]["coords"] == {"seed": 1}
    entry = server.client.get("/api/sweeps").json()[0]
    assert (entry["total"], entry["counts"]) == (2, {"pending": 1, "deleted": 1})

    running = made(server, {"seed": [1, 2]}, base={**BASE, **LONG})
    ids = [cell["id"] for cell in running["jobs"]]
    server.wait_status(ids[0], "running")
    answer = server.client.delete(f"/api/sweeps/{running['id']}")
    assert answer.status_code == 200 and answer.json() == {
        "detail": f"Sweep {running['id']} deleted, with its 2 jobs"}
    for job_id in ids:
        assert server.client.get(f"/api/jobs/{job_id}").status_code == 404
    assert server.client.get(f"/api/sweeps/{running['id']}").status_code == 404
    assert server.client.get("/api/jobs", params={"sweep": running["id"]}).json() == []
    assert [entry["id"] for entry in server.client.get("/api/sweeps").json()] == [pending["id"]]
    assert server.client.delete(f"/api/sweeps/{pending['id']}").json()["detail"].endswith("its 1 job")
    assert server.client.get("/api/jobs").json() == []
    for missing in (running["id"], str(uuid.uuid4()), "not-an-id"):
        for method, path in (("GET", ""), ("POST", "/stop"), ("DELETE", "")):
            answer = server.client.request(method, f"/api/sweeps/{missing}{path}")
            assert answer.status_code == 404 and answer.json() == {"detail": "Sweep not found"}


def test_a_webhook_url_is_shown_redacted_as_a_jobs_is(server: Server) -> None:
    hook = "https://user:pw@hooks.example.com/v?token=abc"
    sweep = made(server, {"seed": [1]}, base={**BASE, "webhook_url": hook}, start=False)
    shown = "https://user:***@hooks.example.com/v?token=***"
    assert sweep["base"]["webhook_url"] == sweep["jobs"][0]["job"]["webhook_url"] == shown
    assert "webhook_url" not in server.client.get("/api/sweeps").json()[0]["base"]  # a summary leaves it out
    other = made(server, {"webhook_url": [hook]}, start=False)
    assert other["axes"] == {"webhook_url": [shown]} and other["jobs"][0]["coords"] == {"webhook_url": shown}
    assert "pw" not in server.client.get(f"/api/sweeps/{other['id']}").text
    assert server.client.get("/api/sweeps").json()[0]["axes"] == {"webhook_url": [shown]}


def test_the_routes_are_documented(server: Server) -> None:
    paths = server.client.get("/openapi.json").json()["paths"]
    assert {"201", "422", "429"} <= set(paths["/api/sweeps"]["post"]["responses"])
    assert "200" in paths["/api/sweeps"]["get"]["responses"]
    for method in ("get", "delete"):
        assert "404" in paths["/api/sweeps/{sweep_id}"][method]["responses"]
    assert "404" in paths["/api/sweeps/{sweep_id}/stop"]["post"]["responses"]


# -- the CLI ---------------------------------------------------------------------------------

SMALL = ("--model", PREVIEW, "--size", "64x64", "--frames", "4", "--steps", "3")


def run_cli(server: Server, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli_main(["--server", server.url, *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_cli_makes_a_sweep_waits_and_prints_its_jobs_by_coords(
        server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(server, capsys, "sweep", "a fox", *SMALL, "--axis", "guidance_scale=3,5",
                             "--axis", "seed=1, 2", "--wait")
    assert code == 0, err
    lines = out.splitlines()
    sweep = server.client.get("/api/sweeps").json()[0]
    assert lines[0] == f"sweep {sweep['id']}: 4 jobs"
    rows = [line.split() for line in lines]
    assert "4/4 done" in lines and lines.index("4/4 done") < rows.index(["id", "guidance_scale", "seed", "status"])
    cells = server.client.get(f"/api/sweeps/{sweep['id']}").json()["jobs"]
    assert rows[-4:] == [[cell["id"][:8], str(cell["coords"]["guidance_scale"]), str(cell["coords"]["seed"]),
                          "completed"] for cell in cells]
    assert [tuple(cell["coords"].values()) for cell in cells] == [(3, 1), (3, 2), (5, 1), (5, 2)]
    assert {cell["job"]["prompt"] for cell in cells} == {"a fox"}


def test_the_cli_takes_a_prompt_with_commas_and_repeated_axes(
        server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(server, capsys, "sweep", *SMALL, "--axis", "prompt=a fox, running", "--axis",
                             "prompt=a cat", "--axis", "num_inference_steps=2,3", "--no-start")
    assert code == 0, err
    sweep = server.client.get("/api/sweeps").json()[0]
    assert out.strip() == f"sweep {sweep['id']}: 4 jobs, pending (start them to run them)"
    assert sweep["axes"] == {"prompt": ["a fox, running", "a cat"], "num_inference_steps": [2, 3]}
    assert sweep["counts"] == {"pending": 4}
    code, out, _ = run_cli(server, capsys, "sweep", "a fox", *SMALL, "--axis", "seed=7", "--no-start", "--json")
    assert code == 0 and '"seed": 7' in out


def test_the_cli_names_the_flag_or_axis_a_refusal_is_about(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    def refusal(*args: str) -> str:
        code, _, err = run_cli(server, capsys, "sweep", *args)
        assert code == 2
        return err.strip()

    assert refusal("a fox", *SMALL, "--axis", "guidance_scale=3,x") == (
        "error: --axis guidance_scale: must be a number, not 'x'")
    assert refusal("a fox", *SMALL, "--axis", "guidance_scale=3,99") == (
        "error: --axis guidance_scale: guidance_scale=99.0: must be between 0 and 30 for fastvideo-ui/preview")
    assert refusal("a fox", *SMALL, "--axis", "seed=1", "--priority", "101").startswith("error: --priority: ")
    assert refusal("a fox", *SMALL, "--axis", "nosuch=1").startswith("error: --axis nosuch: unknown axis")
    assert refusal("a fox", *SMALL, "--axis", "seed") == (
        "error: --axis wants NAME=VALUES, such as guidance_scale=3,5,7, not 'seed'")
    assert refusal("a fox", *SMALL) == "error: give at least one --axis NAME=V1,V2 (such as --axis seed=1,2,3)"
    assert "leave out --no-start" in refusal("a fox", *SMALL, "--axis", "seed=1", "--no-start", "--wait")
    assert nothing_made(server)


def test_the_cli_exits_1_when_a_job_of_the_sweep_is_stopped(server: Server) -> None:
    env = dict(os.environ, FASTVIDEO_UI_SERVER=server.url, COLUMNS="200")
    env.pop("FASTVIDEO_UI_API_TOKEN", None)
    waiting = subprocess.Popen([sys.executable, "-m", "fastvideo_ui.cli", "sweep", "long", "--model", PREVIEW,
                                "--steps", str(LONG["num_inference_steps"]), "--size", "512x512", "--frames", "33",
                                "--axis", "seed=1,2", "--wait"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        sweep = wait_for(lambda: next(iter(server.client.get("/api/sweeps").json()), None), timeout=30)
        wait_for(lambda: server.client.get("/api/jobs", params={"sweep": sweep["id"], "status": "running"}).json(),
                 timeout=30)
        assert server.client.post(f"/api/sweeps/{sweep['id']}/stop").status_code == 200
        out, err = waiting.communicate(timeout=60)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 1, err
    assert [line.split() for line in out.splitlines()[-2:]] == [
        [cell["id"][:8], str(cell["coords"]["seed"]), "stopped"]
        for cell in server.client.get(f"/api/sweeps/{sweep['id']}").json()["jobs"]]
    assert "stopped" in err


def test_a_start_during_a_sweeps_delete_queues_nothing(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """A start that lands while the delete is under way (it has stopped the jobs, and deletes them one
    by one, each waiting on its run) would queue, and run, the jobs the delete has just stopped."""
    server.client.post("/api/queue/pause")
    sweep = made(server, {"seed": [1, 2, 3]})
    ids = [cell["id"] for cell in sweep["jobs"]]
    gate = threading.Event()
    delete_one = JobService.delete

    async def held_delete(self: JobService, job_id: str) -> None:
        while not gate.is_set():  # the delete's wait on a run's end, held open
            await asyncio.sleep(0.01)
        await delete_one(self, job_id)

    monkeypatch.setattr(JobService, "delete", held_delete)
    answers: list[int] = []

    def delete() -> None:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            answers.append(client.delete(f"/api/sweeps/{sweep['id']}").status_code)

    deleting = threading.Thread(target=delete)
    deleting.start()
    wait_for(lambda: all(server.job(job_id)["status"] == "stopped" for job_id in ids),
             what="the delete to stop the sweep's jobs")
    started = server.client.post(f"/api/sweeps/{sweep['id']}/start")
    gate.set()
    deleting.join(60)
    assert (answers, started.status_code) == ([200], 404), started.text
    for job_id in ids:
        assert server.client.get(f"/api/jobs/{job_id}").status_code == 404
    assert queue(server) == []


def test_a_started_sweep_keeps_its_order_in_a_long_queue(server: Server) -> None:
    server.client.post("/api/queue/pause")
    for _ in range(20):
        assert server.client.post("/api/jobs", json={**BASE, "start": True}).status_code == 201
    sweep = made(server, {"seed": list(range(1, 9))})
    ids = [cell["id"] for cell in sweep["jobs"]]
    assert queue(server)[-8:] == ids
    assert [server.job(job_id)["queue_position"] for job_id in ids] == list(range(21, 29))
    assert "queued, position 21" in server.log_text(ids[0])
