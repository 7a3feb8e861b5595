"""LoRAs through the real server and worker, on the fake FastVideo (which
keeps 0.2.1's set_lora_adapter and its quirks: tests/fake_fastvideo/fastvideo/
lora.py): a job's LoRAs are switched on a warm worker without a load, a job
without LoRAs gets the plain video back, a LoRA that reaches no layer is a
warning on its job, a dense adapter reloads saying why, and the speed
options reach FastVideo's load."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from test_loras import safetensors

from conftest import WAN, FakeFastVideo, Server, wait_for

pytestmark = pytest.mark.slow  # a server process with the fake FastVideo on its workers' path

TINY = {"height": 64, "width": 64, "num_frames": 5, "num_inference_steps": 2, "seed": 7, "start": True}
LAYERS = ("attn1.to_q", "attn1.to_k", "attn1.to_v", "attn2.to_q")


def lora_file(blocks: tuple[int, ...] = (0, 1), extra: dict[str, tuple[str, list[int]]] | None = None) -> bytes:
    """A tiny LoRA in PEFT's key format for the given blocks' attention layers."""
    tensors = {f"diffusion_model.blocks.{block}.{layer}.lora_{part}.weight": ("F32", [2, 2])
               for block in blocks for layer in LAYERS for part in "AB"}
    return safetensors({**tensors, **(extra or {})})


def add(server: Server, name: str, data: bytes) -> None:
    answer = server.client.post("/api/loras", params={"name": name}, content=data,
                                headers={"Content-Type": "application/octet-stream"})
    assert answer.status_code == 201, answer.text


def run(fake: FakeFastVideo, **body: Any) -> dict[str, Any]:
    job = fake.create(**(TINY | body))
    return fake.server.wait_status(job["id"], "completed", "failed", timeout=120)


def pixel(server: Server, job: dict[str, Any]) -> list[int]:
    video = server.client.get(f"/api/jobs/{job['id']}/video").content
    with av.open(__import__("io").BytesIO(video)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    return [int(value) for value in np.asarray(frame)[0, 0]]


def test_loras_switch_on_a_warm_worker_and_no_lora_is_the_plain_video(
        fastvideo: Callable[..., FakeFastVideo]) -> None:
    fake = fastvideo("--gpus", "0")
    server = fake.server
    add(server, "style", lora_file())
    plain = run(fake)
    assert plain["status"] == "completed" and plain["loras"] == []
    styled = run(fake, loras=[{"lora": "style", "strength": 1.0}])
    assert styled["status"] == "completed", styled["error"]
    assert styled["loras"] == [{"lora": "style.safetensors", "strength": 1.0, "expert": None}]
    assert styled["load_seconds"] is None and len(fake.events("load")) == 1  # the warm worker switched
    half = run(fake, loras=[{"lora": "style", "strength": 0.5}])
    again = run(fake)
    assert len(fake.events("load")) == 1 and half["load_seconds"] is None and again["load_seconds"] is None
    colours = [pixel(server, job) for job in (plain, styled, half, again)]
    assert colours[0] != colours[1] != colours[2] and colours[3] == colours[0], colours
    calls = [(event["strength"], event["accumulate"]) for event in fake.events("lora")]
    assert calls == [(1.0, False), (0.0, False), (0.5, False), (0.0, False)]  # back to 0, then the job's
    log = server.client.get(f"/api/jobs/{half['id']}/logs").text
    assert re.search(r"LoRAs now merged in [\d.]+ ms: style.safetensors at 0.5", log) and "loading" not in half["phase"]


def test_a_stack_is_merged_in_order_and_a_lora_that_reaches_no_layer_is_a_warning(
        fastvideo: Callable[..., FakeFastVideo]) -> None:
    fake = fastvideo("--gpus", "0")
    server = fake.server
    add(server, "first", lora_file((0,)))
    add(server, "second", lora_file((1,)))
    add(server, "elsewhere", lora_file((7,)))  # blocks the model does not have
    stacked = run(fake, loras=[{"lora": "first"}, {"lora": "second", "strength": -0.5}])
    assert stacked["status"] == "completed" and stacked["warnings"] == []
    assert [(event["strength"], event["accumulate"]) for event in fake.events("lora")] == [(1.0, False),
                                                                                           (-0.5, True)]
    nowhere = run(fake, loras=[{"lora": "elsewhere"}])
    assert nowhere["status"] == "completed"
    assert nowhere["warnings"] == [  # once: that its weights all missed says the rest
        f"LoRA elsewhere.safetensors matched no layer of {WAN}: FastVideo skipped all of its weights, so it changed "
        f"nothing"]
    log = server.client.get(f"/api/jobs/{nowhere['id']}/logs").text
    assert "warning: LoRA elsewhere.safetensors matched no layer" in log
    after = run(fake)
    assert after["warnings"] == []  # a run's warnings are its own


def test_a_dense_adapter_loads_with_the_model_and_the_log_says_why(fastvideo: Callable[..., FakeFastVideo]) -> None:
    fake = fastvideo("--gpus", "0")
    server = fake.server
    add(server, "dense", lora_file(extra={"diffusion_model.blocks.0.attn1.to_q.diff": ("F32", [2, 2])}))
    add(server, "light", lora_file())
    first = run(fake, loras=[{"lora": "dense", "strength": 0.7}])  # a cold worker: one load, the LoRA in it
    assert first["status"] == "completed" and len(fake.events("load")) == 1
    assert fake.events("load")[0]["kwargs"]["lora_path"].endswith("/dense.safetensors")
    run(fake)
    dense = run(fake, loras=[{"lora": "dense", "strength": 0.7}])
    assert dense["status"] == "completed", dense["error"]
    loads = fake.events("load")
    assert len(loads) == 3 and loads[2]["kwargs"]["lora_strength"] == 0.7
    assert loads[2]["kwargs"]["lora_path"].endswith("/dense.safetensors")
    log = server.client.get(f"/api/jobs/{dense['id']}/logs").text
    assert "carries a dense payload (.diff/.set_weight keys), which FastVideo applies only when the model loads" in log
    light = run(fake, loras=[{"lora": "light"}])  # FastVideo refuses any change now: a plain load, then a switch
    assert light["status"] == "completed" and len(fake.events("load")) == 4
    assert "lora_path" not in fake.events("load")[3]["kwargs"]
    both = run(fake, loras=[{"lora": "dense"}, {"lora": "light"}])
    assert both["status"] == "failed" and "applies such an adapter only alone" in both["error"]
    assert run(fake)["status"] == "completed"  # the worker goes on


def test_a_lora_a_job_names_stays_until_it_ends_and_one_gone_by_hand_fails_it_before_it_runs(
        fastvideo: Callable[..., FakeFastVideo]) -> None:
    fake = fastvideo("--gpus", "0")
    server = fake.server
    add(server, "brief", lora_file())
    job = fake.create(**(TINY | {"start": False, "loras": [{"lora": "brief"}]}))
    held = server.client.delete("/api/loras/brief")  # a pending job holds it: no other file in its place
    assert held.status_code == 409 and held.json()["jobs"] == [job["id"]]
    (server.data_dir / "loras" / "brief.safetensors").unlink()  # gone by hand
    server.client.post(f"/api/jobs/{job['id']}/start")
    failed = server.wait_status(job["id"], "completed", "failed", timeout=60)
    assert failed["status"] == "failed" and "LoRA brief.safetensors is no longer in the library" in failed["error"]
    assert fake.events("lora") == [] and fake.events("load") == []


def test_the_speed_options_reach_the_load_and_are_part_of_the_workers_key(
        fastvideo: Callable[..., FakeFastVideo]) -> None:
    fake = fastvideo("--gpus", "0")
    run(fake)
    fast = run(fake, enable_torch_compile=True, attention_backend="VIDEO_SPARSE_ATTN", vsa_sparsity=0.8)
    assert fast["status"] == "completed", fast["error"]
    plain, loaded = fake.events("load")
    assert plain["attention_backend_env"] is None and "VSA_sparsity" in plain["kwargs"]
    assert (loaded["kwargs"]["enable_torch_compile"], loaded["kwargs"]["VSA_sparsity"]) == (True, 0.8)
    assert loaded["attention_backend_env"] == "VIDEO_SPARSE_ATTN" and "attention_backend" not in loaded["kwargs"]
    run(fake)
    assert fake.events("load")[2]["attention_backend_env"] is None  # the next load does not inherit it


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_v1_videos_takes_loras_in_extra_body_as_the_openai_sdk_sends_them(
        fastvideo: Callable[..., FakeFastVideo]) -> None:
    import openai

    fake = fastvideo("--gpus", "0")
    add(fake.server, "style", lora_file())
    client = openai.OpenAI(base_url=fake.server.url + "/v1", api_key="unused", max_retries=0, timeout=30)
    video = client.videos.create(prompt="a fox", model=WAN, size="64x64", extra_body={
        "num_inference_steps": 2, "loras": [{"lora": "style", "strength": 0.5}, {"lora": "org/repo", "strength": 1}]})
    job = fake.server.job(video.id)  # the SDK sent a form: each key's values together (loras[][lora] twice, ...)
    assert job["loras"] == [{"lora": "style.safetensors", "strength": 0.5, "expert": None},
                            {"lora": "org/repo", "strength": 1.0, "expert": None}]
    with pytest.raises(openai.BadRequestError) as lossy:  # which LoRA would the one strength be?
        client.videos.create(prompt="a fox", model=WAN, size="64x64",
                             extra_body={"loras": [{"lora": "style", "strength": 0.5}, {"lora": "org/repo"}]})
    assert "give every item the same keys" in str(lossy.value)
    as_json = fake.server.client.post("/v1/videos", data={"prompt": "a fox", "model": WAN, "size": "64x64",
                                                          "loras": '[{"lora": "style", "strength": 0.25}]'})
    assert as_json.status_code == 200, as_json.text
    assert fake.server.job(as_json.json()["id"])["loras"][0]["strength"] == 0.25
    with pytest.raises(openai.BadRequestError) as refused:
        client.videos.create(prompt="a fox", model=WAN, size="64x64", extra_body={"loras": [{"lora": "nowhere"}]})
    assert "no LoRA named nowhere.safetensors in the library" in str(refused.value)


def test_a_hub_lora_is_fetched_before_its_job_with_the_jobs_progress_and_only_its_file(
        fastvideo: Callable[..., FakeFastVideo], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from fake_hub import FakeHub
    from test_weights import use_hub

    ink = safetensors({f"diffusion_model.blocks.0.{layer}.lora_{part}.weight": ("F32", [256, 192])
                       for layer in LAYERS for part in "AB"})  # 1.5 MiB: long enough to watch at 512 KiB/s
    hub = FakeHub({WAN: {"model_index.json": b"{}"},
                   "owner/ink": {"pytorch_lora_weights.safetensors": ink, "README.md": b"an ink LoRA",
                                 "checkpoint-500/optimizer.pt": b"o" * (4 << 20)},
                   "owner/huge": {"huge.safetensors": b"h" * (3 << 20)}}, rate=512 << 10)
    try:
        use_hub(monkeypatch, hub, tmp_path)
        fake = fastvideo("--gpus", "0", "--max-lora-bytes", str(2 << 20), online=True)
        server = fake.server
        first = fake.create(**(TINY | {"loras": [{"lora": "owner/ink", "strength": 0.8}]}))
        seen = wait_for(lambda: (job := server.job(first["id"]))["phase"] == "downloading" and job,
                        timeout=30, what="the LoRA's download")
        assert seen["progress_msg"].startswith("downloading ")
        done = server.wait_status(first["id"], "completed", "failed", timeout=60)
        assert done["status"] == "completed", done["error"]
        assert "the weights of owner/ink are not in the cache: fetching them first" in server.log_text(first["id"])
        applied = fake.events("lora")[0]
        assert applied["path"].endswith("/snapshots/" + "a" * 40 + "/pytorch_lora_weights.safetensors")
        assert applied["strength"] == 0.8
        fetched = {path for method, path, _ in hub.requests if method == "GET" and "/resolve/" in path}
        assert not any(path.endswith(("README.md", "optimizer.pt")) for path in fetched), fetched  # its file only
        again = run(fake, loras=[{"lora": "owner/ink"}])
        assert again["status"] == "completed" and "fetching them first" not in server.log_text(again["id"])
        huge = run(fake, loras=[{"lora": "owner/huge"}])
        assert huge["status"] == "failed"
        assert f"LoRA owner/huge/huge.safetensors is {3 << 20} bytes, over this server's --max-lora-bytes " \
               f"({2 << 20})" in huge["error"]
    finally:
        hub.close()


def test_a_sweep_over_a_loras_strength_runs_each_strength(fastvideo: Callable[..., FakeFastVideo]) -> None:
    """`lora_strength` (the base's first LoRA) as an axis, through the real server and its worker."""
    fake = fastvideo("--gpus", "0")
    server = fake.server
    add(server, "style", lora_file())
    base = {"model_id": WAN, "prompt": "ink wash", "loras": [{"lora": "style"}]} | TINY
    del base["start"]
    answer = server.client.post("/api/sweeps", json={"base": base, "axes": {"lora_strength": [0.5, 1.0]},
                                                     "start": True})
    assert answer.status_code == 201, answer.text
    cells = answer.json()["jobs"]
    assert [cell["coords"] for cell in cells] == [{"lora_strength": 0.5}, {"lora_strength": 1.0}]
    ran = [server.wait_status(cell["id"], "completed", "failed", timeout=120) for cell in cells]
    assert [job["status"] for job in ran] == ["completed", "completed"]
    assert [job["loras"] for job in ran] == [[{"lora": "style.safetensors", "strength": strength, "expert": None}]
                                            for strength in (0.5, 1.0)]
    assert pixel(server, ran[0]) != pixel(server, ran[1])  # each strength reached FastVideo's adapter
