"""The fake registry: a few of 0.2.1's model ids, with their workloads."""

from __future__ import annotations

from typing import Any

_MODELS = {
    "Wan-AI/Wan2.1-T2V-1.3B-Diffusers": ("Wan2.1 T2V 1.3B", ["t2v"]),
    "FastVideo/FastWan2.1-T2V-1.3B-Diffusers": ("FastWan2.1 T2V 1.3B", ["t2v"]),
    "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers": ("Wan2.1 I2V 14B 480P", ["i2v"]),
    "Wan-AI/Wan2.2-TI2V-5B-Diffusers": ("Wan2.2 TI2V 5B", ["t2v", "ti2v"]),
    "FastVideo/Tiny-T2V-Diffusers": ("Tiny T2V (fake)", ["t2v"]),
}

DEFAULTS: dict[str, dict[str, Any]] = {
    "Wan-AI/Wan2.1-T2V-1.3B-Diffusers": dict(height=480, width=832, num_frames=81, fps=16,
                                             num_inference_steps=50, guidance_scale=3.0),
    "FastVideo/FastWan2.1-T2V-1.3B-Diffusers": dict(height=448, width=832, num_frames=61, fps=16,
                                                    num_inference_steps=3, guidance_scale=3.0),
    "FastVideo/Tiny-T2V-Diffusers": dict(height=256, width=320, num_frames=17, fps=12,
                                         num_inference_steps=6, guidance_scale=2.5, negative_prompt="noise"),
    "Wan-AI/Wan2.2-TI2V-5B-Diffusers": dict(height=704, width=1280, num_frames=121, fps=24,
                                            num_inference_steps=50, guidance_scale=5.0),
}


def get_registered_model_paths() -> list[str]:
    return sorted(_MODELS)


def get_registered_models_with_workloads(workload_type: str | None = None, ) -> list[dict[str, Any]]:
    return [
        {"id": path, "label": label, "workload_types": list(workloads)}
        for path, (label, workloads) in sorted(_MODELS.items())
        if workload_type is None or workload_type in workloads
    ]
