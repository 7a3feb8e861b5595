"""The fake's LoRAPipeline (pipelines/lora_pipeline.py, 0.2.1), kept in the
parent: which layers each adapter reaches, merged by strength, with the real
one's quirks. A layer an adapter lacks is only marked, never unmerged (its
earlier adapter stays merged), and `set_lora_adapter(nick, strength=0.0)` is
what restores a layer exactly. It logs the lines the real pipeline logs."""

from __future__ import annotations

import math
import zlib

from ._log import log
from .models.loader.lora_patch import DenseLoRAPatch, adapter_keys

# The tiny Wan checkpoint's block linears (tests/real_fastvideo/build_tiny_lora.py reads the same).
LAYERS = tuple(f"blocks.{block}.{name}" for block in (0, 1) for name in (
    "attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0", "attn2.to_q", "attn2.to_k", "attn2.to_v",
    "attn2.to_out.0", "ffn.net.0.proj", "ffn.net.2"))
_PREFIXES = ("diffusion_model.", "transformer.", "base_model.model.")
_LOW_RANK = (".lora_A.weight", ".lora_B.weight", ".lora_down.weight", ".lora_up.weight")


def _layer(key: str) -> str | None:
    for prefix in _PREFIXES:
        key = key.removeprefix(prefix)
    return next((key[:-len(end)] for end in _LOW_RANK if key.endswith(end)), None)


class FakeLoraPipeline:
    def __init__(self) -> None:
        self.adapters: dict[str, dict[str, float]] = {}  # nickname -> layer -> its delta (a stand-in weight)
        self.paths: dict[str, str] = {}
        self.merged: dict[str, float] = {}  # layer -> what is merged into it now
        self.current: tuple[str, str | None, float] = ("", None, 1.0)
        self.constructor_dense: str | None = None

    def set_lora_adapter(self, nickname: str, lora_path: str | None, strength: float, accumulate: bool,
                         constructing: bool = False) -> None:
        if not math.isfinite(strength):
            raise ValueError(f"LoRA strength must be finite, got {strength}")
        requested = lora_path or self.paths.get(nickname)
        if self.current == (nickname, requested, strength) and not accumulate:
            return
        if not constructing:
            if self.constructor_dense is not None:
                raise RuntimeError(
                    "The active LoRA contains constructor-time .diff/.set_weight payload. Changing its adapter or "
                    "strength at runtime would leave that dense payload stale; create a new VideoGenerator with "
                    "ComponentConfig(lora_path=..., lora_strength=...).")
            if requested is not None and DenseLoRAPatch.from_adapter(requested) is not None:
                raise RuntimeError(
                    "Adapters containing .diff/.set_weight payload must be supplied when VideoGenerator is "
                    "constructed with ComponentConfig(lora_path=..., lora_strength=...).")
        if nickname not in self.adapters and lora_path is None:
            raise ValueError(f"Adapter {nickname} not found in the pipeline. Please provide lora_path to load it.")
        unmatched = 0
        if lora_path is not None and self.paths.get(nickname) != lora_path:
            weights: dict[str, float] = {}
            for key in adapter_keys(lora_path):
                layer = _layer(key)
                if layer in LAYERS:
                    weights[layer] = (zlib.crc32(f"{lora_path}:{layer}".encode()) % 1000 + 1) / 1000
                elif layer is not None:
                    unmatched += 1
            self.adapters[nickname], self.paths[nickname] = weights, lora_path
            log(f"Rank 0: loaded LoRA adapter {lora_path}", "lora_pipeline.py", 414)
        self.current = (nickname, requested, strength)
        reached = 0
        for layer in LAYERS:
            delta = self.adapters[nickname].get(layer)
            if delta is None:
                log(f"LoRA adapter {lora_path} does not contain the weights for layer {layer}. LoRA will not be "
                    f"applied to it.", "lora_pipeline.py", 466, level="WARNING")
                continue  # marked disabled, not unmerged: what was merged there stays
            self.merged[layer] = (self.merged.get(layer, 0.0) if accumulate else 0.0) + delta * strength
            reached += 1
        log(f"Rank 0: LoRA adapter {lora_path} applied to {reached} layers", "lora_pipeline.py", 472)
        if unmatched:
            log(f"LoRA adapter {lora_path}: {unmatched} weights did not reach a layer", "lora_pipeline.py", 488,
                level="WARNING")

    def shade(self) -> int:
        """What the merged adapters do to the video: 0 with none merged (or all at strength 0)."""
        return round(sum(self.merged.values()) * 1000) % 255
