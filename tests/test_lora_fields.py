"""Issue 26's per-job fields, checked before anything is stored: `loras` (at
most 4, each a library name or a Hub id with a finite strength from -4 to 4,
a library name that is there, no expert FastVideo cannot target) and the
speed options (each where its model can use it, with the rule it needs)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from test_loras import safetensors

from fastvideo_ui.api.schemas import CreateJobRequest
from fastvideo_ui.cli_flags import add_job_flags
from fastvideo_ui.jobs.catalogue import PREVIEW, Catalogue, ModelSpec
from fastvideo_ui.jobs.inputs import InputUnavailable, Stopping
from fastvideo_ui.jobs.lora_inputs import LoraResolver
from fastvideo_ui.jobs.params import InvalidParams, resolve_params
from fastvideo_ui.loras.choice import parse_lora_flag
from fastvideo_ui.loras.library import LoraLibrary
from fastvideo_ui.spec.fields import ATTENTION_BACKENDS, BY_NAME, FIELDS

WAN = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
WAN22 = "Wan-AI/Wan2.2-T2V-A14B-Diffusers"


def arun(coroutine: Any) -> Any:
    """The coroutine run on a thread of its own: a browser test earlier in the process leaves Playwright's event
    loop running on this one, where asyncio.run refuses to start another."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def model(model_id: str = WAN) -> ModelSpec:
    found = Catalogue().find(model_id)
    assert found is not None
    return found


def resolved(spec: ModelSpec, **asked: Any) -> dict[str, Any]:
    body = CreateJobRequest.model_validate({"model_id": spec.id, "prompt": "a fox", **asked}).model_dump()
    return resolve_params(spec, body, device_count=4)


def refused(spec: ModelSpec, **asked: Any) -> dict[str, str]:
    with pytest.raises(InvalidParams) as caught:
        resolved(spec, **asked)
    return dict(caught.value.errors)


def invalid(**asked: Any) -> list[tuple[Any, ...]]:
    """Where the request model refuses the body (a 422's loc), as JSON sends it."""
    with pytest.raises(ValidationError) as caught:
        CreateJobRequest.model_validate_json(json.dumps({"model_id": WAN, "prompt": "a", **asked}))
    return [tuple(error["loc"]) for error in caught.value.errors()]


def test_loras_are_checked_item_by_item_and_counted() -> None:
    # A library name is stored as the library writes it: one LoRA, one spelling.
    assert resolved(model(), loras=[{"lora": "style", "strength": 0.8}, {"lora": "org/repo"}])["loras"] == (
        {"lora": "style.safetensors", "strength": 0.8, "expert": None},
        {"lora": "org/repo", "strength": 1.0, "expert": None})
    assert "#2 repeats #1 (style.safetensors)" in refused(model(), loras=[{"lora": "style"},
                                                                        {"lora": "style.safetensors"}])["loras"]
    assert invalid(loras=[{"lora": "owner/repo\n"}]) == [("loras", 0, "lora")]  # "$" would let it pass
    assert invalid(loras=[{"lora": "ownér/repo"}]) == [("loras", 0, "lora")]
    assert invalid(loras=[{"lora": "owner/."}]) == [("loras", 0, "lora")]
    assert invalid(loras=[{"lora": "a", "strength": 4.5}]) == [("loras", 0, "strength")]
    assert invalid(loras=[{"lora": "a", "strength": "NaN"}]) == [("loras", 0, "strength")]
    assert invalid(loras=[{"lora": "a"}] * 5) == [("loras",)]
    assert invalid(loras=[{"lora": "x.ckpt"}]) == [("loras", 0, "lora")]  # a pickle
    assert invalid(loras=[{"lora": "../x"}]) == [("loras", 0, "lora")]
    assert invalid(loras=[{"lora": "org/repo/weights.bin"}]) == [("loras", 0, "lora")]
    assert invalid(loras=[{"lora": "a", "scale": 1}]) == [("loras", 0, "scale")]
    with pytest.raises(ValidationError):  # NaN in the JSON itself (Python's json writes it) is refused too
        CreateJobRequest.model_validate_json('{"model_id": "m", "prompt": "a", "loras": [{"lora": "a", '
                                             '"strength": NaN}]}')


def test_a_lora_for_one_expert_is_refused_saying_what_fastvideo_lacks() -> None:
    problem = refused(model(WAN22), loras=[{"lora": "high", "expert": "high_noise"}, {"lora": "low",
                                                                                       "expert": "low_noise"}])
    assert problem["loras"].startswith("#1 and #2 name an expert: FastVideo 0.2.1 applies each LoRA to both of "
                                       "Wan-AI/Wan2.2-T2V-A14B-Diffusers's experts alike")
    assert refused(model(), loras=[{"lora": "a", "expert": "high_noise"}])["loras"].startswith(
        "#1 names an expert, but Wan-AI/Wan2.1-T2V-1.3B-Diffusers has one transformer")
    assert resolved(model(WAN22), loras=[{"lora": "both"}])["loras"][0]["lora"] == "both.safetensors"


def test_fields_a_model_cannot_use_are_refused_by_name() -> None:
    assert refused(PREVIEW, loras=[{"lora": "a"}])["loras"] == "loras does not apply to fastvideo-ui/preview"
    assert resolved(PREVIEW, loras=[])["loras"] == ()  # the default is no request
    assert "no TeaCache" in refused(model(), enable_teacache=True)["enable_teacache"]
    plain = ModelSpec(**{**model().__dict__, "id": "org/plain", "features": frozenset()})
    assert "no video sparse attention" in refused(plain, vsa_sparsity=0.5)["vsa_sparsity"]
    assert {f["name"] for f in _served(plain)} >= {"loras", "attention_backend"}
    assert "vsa_sparsity" not in {f["name"] for f in _served(plain)}  # its fields say so
    assert "enable_teacache" not in {f["name"] for f in _served(model())}


def _served(spec: ModelSpec) -> list[dict[str, Any]]:
    from fastvideo_ui.api.system import model_facts
    from fastvideo_ui.spec.served import Capacity, fields_json

    return fields_json(model_facts(spec), Capacity(4))


def test_the_speed_options_rules() -> None:
    assert "VIDEO_SPARSE_ATTN" in refused(model(), vsa_sparsity=0.5)["vsa_sparsity"]
    assert resolved(model(), vsa_sparsity=0.5, attention_backend="VIDEO_SPARSE_ATTN")["vsa_sparsity"] == 0.5
    assert invalid(vsa_sparsity=0.99) == [("vsa_sparsity",)]
    assert invalid(attention_backend="FAST") == [("attention_backend",)]
    assert "num_gpus above 1" in refused(model(), sp_size=2)["sp_size"]
    assert refused(model(), num_gpus=4, tp_size=3)["tp_size"] == "must divide num_gpus (4)"
    assert resolved(model(), num_gpus=4, sp_size=2, tp_size=2)["sp_size"] == 2
    assert resolved(model(), enable_torch_compile=True)["enable_torch_compile"] is True


def test_the_speed_options_are_load_options_fastvideo_gets_by_its_names() -> None:
    from fastvideo_ui.backends.base import ModelConfig
    from fastvideo_ui.backends.fastvideo import load_environment, load_kwargs

    values = resolved(model(), num_gpus=2, sp_size=2, vsa_sparsity=0.5, attention_backend="VIDEO_SPARSE_ATTN",
                      enable_torch_compile=True)
    config = ModelConfig.for_params(argparse.Namespace(**values))
    assert config != ModelConfig.for_params(argparse.Namespace(**(values | {"enable_torch_compile": False})))
    kwargs = load_kwargs(config)
    assert (kwargs["VSA_sparsity"], kwargs["sp_size"], kwargs["enable_torch_compile"]) == (0.5, 2, True)
    assert "tp_size" not in kwargs and "attention_backend" not in kwargs  # null: FastVideo's; the backend: env
    assert load_environment(config) == {"FASTVIDEO_ATTENTION_BACKEND": "VIDEO_SPARSE_ATTN"}
    assert BY_NAME["attention_backend"].choices == ATTENTION_BACKENDS


def test_submit_takes_lora_name_strength_again_and_again() -> None:
    parser = argparse.ArgumentParser()
    add_job_flags(parser, FIELDS)
    args = parser.parse_args(["a fox", "--lora", "style:0.8", "--lora", "org/repo", "--compile"])
    assert args.loras == [{"lora": "style.safetensors", "strength": 0.8}, {"lora": "org/repo", "strength": 1.0}]
    assert args.enable_torch_compile is True
    with pytest.raises(SystemExit):
        parser.parse_args(["a fox", "--attention", "FAST"])  # the choices are FastVideo's
    assert "FLASH_ATTN" in parser.format_help() and "--teacache" not in parser.format_help()
    for bad in ("style:x", "style:", "style:nan", "style:9", "a/b/c.pt", "model.ckpt"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_lora_flag(bad)


def test_the_library_names_a_job_gives_are_checked_and_resolved_to_files(tmp_path: Path) -> None:
    library = LoraLibrary(tmp_path / "loras", 1 << 20)
    library.add("style", [safetensors()])
    resolver = LoraResolver(library)
    field = BY_NAME["loras"]
    assert resolver.problem(field, [{"lora": "style"}, {"lora": "style.safetensors"}, {"lora": "org/repo"}]) is None
    assert "no LoRA named gone in the library" in (resolver.problem(field, [{"lora": "gone"}]) or "")

    async def fetch(repo: str, args: tuple[str, ...] = ()) -> bool:
        raise AssertionError("a library LoRA is never fetched")

    out = arun(resolver([{"lora": "style", "strength": 0.5}], fetch))
    assert out == [{"lora": "style", "path": str(tmp_path / "loras" / "style.safetensors"), "strength": 0.5}]
    library.remove("style")
    with pytest.raises(InputUnavailable, match="no longer in the library"):
        arun(resolver([{"lora": "style", "strength": 0.5}], fetch))
    (tmp_path / "loras" / "dropped.safetensors").write_bytes(b"copied in by hand, and broken")
    assert resolver.problem(field, [{"lora": "dropped"}]) is None  # found at create, not read there
    with pytest.raises(InputUnavailable, match="not a safetensors file FastVideo can read"):
        arun(resolver([{"lora": "dropped", "strength": 1.0}], fetch))


def _cached_repo(hub: Path, repo: str, files: dict[str, bytes]) -> None:
    folder = hub / ("models--" + repo.replace("/", "--"))
    snapshot = folder / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    for name, data in files.items():
        (snapshot / name).write_bytes(data)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text("a" * 40)


def test_a_hub_lora_is_fetched_first_then_its_file_found_in_the_cache(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    hub = tmp_path / "hf" / "hub"
    resolver = LoraResolver(LoraLibrary(tmp_path / "loras", 1 << 20))
    fetched: list[tuple[str, tuple[str, ...]]] = []

    async def fetch(repo: str, args: tuple[str, ...] = ()) -> bool:
        fetched.append((repo, args))
        _cached_repo(hub, repo, {"pytorch_lora_weights.safetensors": safetensors(), "other.safetensors": safetensors(),
                                 "broken.safetensors": b"not a safetensors file"})
        return True

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    out = arun(resolver([{"lora": "org/style", "strength": 1.0}], fetch))
    # One file of the repo, chosen by the fetch, no larger than the library takes.
    assert fetched == [("org/style", ("--lora", "", "--max-bytes", str(1 << 20)))]
    assert out[0]["path"].endswith("/pytorch_lora_weights.safetensors")
    out = arun(resolver([{"lora": "org/style/other.safetensors", "strength": 1.0}], fetch))
    assert len(fetched) == 1 and out[0]["path"].endswith("/other.safetensors")  # in the cache: no fetch
    with pytest.raises(InputUnavailable, match="is not a safetensors file FastVideo can read"):
        arun(resolver([{"lora": "org/style/broken.safetensors", "strength": 1.0}], fetch))
    _cached_repo(hub, "org/two", {"a.safetensors": b"a", "b.safetensors": b"b"})
    with pytest.raises(InputUnavailable, match="several .safetensors files"):
        arun(resolver([{"lora": "org/two", "strength": 1.0}], fetch))

    async def stopped(repo: str, args: tuple[str, ...] = ()) -> bool:
        return False

    with pytest.raises(Stopping):
        arun(resolver([{"lora": "org/new", "strength": 1.0}], stopped))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputUnavailable, match="HF_HUB_OFFLINE forbids fetching it"):
        arun(resolver([{"lora": "org/missing", "strength": 1.0}], fetch))
    assert os.environ["HF_HUB_OFFLINE"] == "1"
