"""What FastVideo's offload options do, and the advice after running out of memory."""

from __future__ import annotations

from fastvideo_ui.backends.offload import memory_advice
from fastvideo_ui.spec.rules import resolve_later


def test_omitted_options_take_fastvideos_defaults_as_fastvideo_resolves_them() -> None:
    values, errors = resolve_later({})
    # FastVideo's defaults turn dit_cpu_offload on, and then layerwise offload turns it off again.
    assert values == {"dit_layerwise_offload": True, "dit_cpu_offload": False, "use_fsdp_inference": False,
                      "text_encoder_cpu_offload": True, "vae_cpu_offload": True}
    assert errors == []


def test_an_option_fastvideo_would_switch_off_is_refused() -> None:
    _, errors = resolve_later({"dit_cpu_offload": True, "use_fsdp_inference": True})
    assert [field for field, _ in errors] == ["dit_cpu_offload", "use_fsdp_inference"]
    assert "no effect while dit_layerwise_offload is on" in errors[0][1]
    values, errors = resolve_later({"dit_layerwise_offload": False, "dit_cpu_offload": True,
                                      "use_fsdp_inference": True, "vae_cpu_offload": False})
    assert errors == [] and values == {"dit_layerwise_offload": False, "dit_cpu_offload": True,
                                       "use_fsdp_inference": True, "text_encoder_cpu_offload": True,
                                       "vae_cpu_offload": False}


def test_memory_advice_names_only_options_that_would_change_something() -> None:
    defaults, _ = resolve_later({})
    assert memory_advice(defaults) == "try fewer frames, a smaller size, or more GPUs (num_gpus)"
    nothing = dict.fromkeys(defaults, False)
    assert memory_advice(nothing) == ("try fewer frames, a smaller size, dit_layerwise_offload, "
                                      "text_encoder_cpu_offload, vae_cpu_offload, or more GPUs (num_gpus)")
    assert "dit_layerwise_offload" not in memory_advice(nothing | {"dit_cpu_offload": True})
