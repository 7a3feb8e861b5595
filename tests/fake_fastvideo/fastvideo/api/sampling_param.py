from __future__ import annotations

from dataclasses import dataclass

from ..registry import DEFAULTS


@dataclass
class SamplingParam:
    height: int = 480
    width: int = 832
    num_frames: int = 81
    fps: int = 16
    num_inference_steps: int = 50
    guidance_scale: float = 3.0
    negative_prompt: str = "Bright tones, overexposed, static, blurred details, subtitles"

    @classmethod
    def from_pretrained(cls, model_path: str) -> "SamplingParam":
        return cls(**DEFAULTS.get(model_path, {}))
