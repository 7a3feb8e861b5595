"""The FastVideo backend's LoRA switch, as calls on a recording generator:
back to strength 0 for each adapter merged since the base, then the job's in
order (accumulating after the first); nothing when the set is the same; a
dense adapter needs a load, alone; and FastVideo's "None" lines of a switch by
nickname are not a job's warning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fastvideo_ui.backends import fastvideo_lora
from fastvideo_ui.backends.fastvideo_lora import AdapterState, LoraRefused, adapters_of
from fastvideo_ui.backends.fastvideo_output import OutputParser


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None, float, bool]] = []

    def set_lora_adapter(self, nickname: str, lora_path: str | None = None, strength: float = 1.0,
                         accumulate: bool = False) -> None:
        self.calls.append((nickname, lora_path, strength, accumulate))


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    out = {}
    for name in ("a", "b", "dense"):
        (tmp_path / f"{name}.safetensors").write_bytes(name.encode())
        out[name] = str(tmp_path / f"{name}.safetensors")
    monkeypatch.setattr(fastvideo_lora, "_dense", lambda adapter: adapter.name == "dense")
    return out


def wanted(files: dict[str, str], *entries: tuple[str, float]) -> Any:
    return adapters_of([{"lora": name, "path": files[name], "strength": strength} for name, strength in entries])


def test_a_switch_goes_back_to_the_base_then_merges_the_jobs_in_order(files: dict[str, str]) -> None:
    generator, state = Recorder(), AdapterState()
    a, b = wanted(files, ("a", 1.0))[0], wanted(files, ("b", 1.0))[0]
    assert state.switch(generator, wanted(files, ("a", 1.0), ("b", -0.5)))
    assert generator.calls == [(a.nickname, files["a"], 1.0, False), (b.nickname, files["b"], -0.5, True)]
    assert not state.switch(generator, wanted(files, ("a", 1.0), ("b", -0.5)))  # the same: no call
    generator.calls.clear()
    assert state.switch(generator, wanted(files, ("b", 0.5)))
    assert generator.calls == [(a.nickname, None, 0.0, False), (b.nickname, None, 0.0, False),
                               (b.nickname, files["b"], 0.5, False)]
    generator.calls.clear()
    assert state.switch(generator, wanted(files, ("a", 0.0)))  # strength 0 is no LoRA: back to the base only
    assert generator.calls == [(b.nickname, None, 0.0, False)] and state.applied == ()


def test_a_file_replaced_under_its_name_is_another_adapter(files: dict[str, str]) -> None:
    before = wanted(files, ("a", 1.0))[0].nickname
    Path(files["a"]).write_bytes(b"a new version of it")
    assert wanted(files, ("a", 1.0))[0].nickname != before
    with pytest.raises(LoraRefused, match="cannot be read"):
        adapters_of([{"lora": "gone", "path": files["a"] + ".gone", "strength": 1.0}])


def test_a_dense_adapter_needs_a_load_and_must_be_alone(files: dict[str, str]) -> None:
    state = AdapterState()
    dense = wanted(files, ("dense", 0.7))
    assert "applies only when the model loads" in (state.reload_reason(dense) or "")
    assert AdapterState.load_kwargs(dense) == {"lora_path": files["dense"], "lora_nickname": dense[0].nickname,
                                               "lora_strength": 0.7}
    with pytest.raises(LoraRefused, match="only alone"):
        state.reload_reason(wanted(files, ("dense", 1.0), ("a", 1.0)))
    loaded = AdapterState(dense)
    assert loaded.reload_reason(dense) is None
    assert "cannot change it at run time" in (loaded.reload_reason(()) or "")
    assert state.reload_reason(wanted(files, ("a", 1.0))) is None and AdapterState.load_kwargs(()) == {}


def test_a_switch_by_nickname_is_not_a_warning() -> None:
    head = "INFO 12-06 10:00:00.000 [lora_pipeline.py:472] "
    parser = OutputParser()
    assert parser.feed(head + "Rank 0: LoRA adapter None applied to 0 layers\n"
                       + head + "LoRA adapter None: 40 weights did not reach a layer\n") == []


def test_after_so_many_adapters_the_model_is_loaded_afresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """FastVideo keeps every adapter it has read on the GPU: past MAX_HELD_ADAPTERS files, a load frees them."""
    monkeypatch.setattr(fastvideo_lora, "_dense", lambda adapter: False)
    generator, state = Recorder(), AdapterState()
    for index in range(fastvideo_lora.MAX_HELD_ADAPTERS):
        (tmp_path / f"{index}.safetensors").write_bytes(b"x")
        wanted = adapters_of([{"lora": str(index), "path": str(tmp_path / f"{index}.safetensors"), "strength": 1}])
        assert state.reload_reason(wanted) is None
        state.switch(generator, wanted)
    (tmp_path / "one-more.safetensors").write_bytes(b"x")
    another = adapters_of([{"lora": "one-more", "path": str(tmp_path / "one-more.safetensors"), "strength": 1}])
    assert "loading it afresh frees them" in (state.reload_reason(another) or "")
    assert state.reload_reason(()) is None  # back to the base needs no new adapter
