"""`python -m fastvideo_ui.backends.fastvideo_catalogue`: print FastVideo's
registered text-to-video models, their default sampling parameters and their
size rules as JSON. The server runs it as a child process, because importing
fastvideo imports torch, which the server never does.

FastVideo's logger writes to stdout, and logs as it is imported, so the JSON
goes to a duplicate of the original stdout and everything else that writes to
fd 1 (this process or a child) lands on stderr.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from ..spec.fields import FIELDS as SPEC_FIELDS
from ..spec.fields import MODEL

# The model-defaulted sampling fields of the spec: what each registered model's defaults are read for.
FIELDS = tuple(f.name for f in SPEC_FIELDS if f.fastvideo == "sample" and f.default is MODEL)
AUDIO_WORKLOADS = {"t2a", "v2a"}  # Stable Audio is registered as t2v too; its output is a .wav

# Where a checkpoint's own config overrides the pipeline config's default VAE,
# which is all that can be read without the weights: Wan2.2 TI2V 5B's VAE
# compresses 16x spatially (its vae/config.json), not the default 8x.
CHECKPOINT_VAE_SPATIAL = {"Wan2_2_TI2V_5B_Config": 16, "FastWan2_2_TI2V_5B_Config": 16}


def _patch(dit_arch: Any) -> int:
    size = getattr(dit_arch, "patch_size", None)
    if isinstance(size, (list, tuple)):
        return int(size[-1])
    return int(size or 1)


def size_rules(model_id: str) -> dict[str, int]:
    """`pixel_multiple`: height and width must be multiples of the VAE's spatial
    compression times the DiT's patch size (doubled where the default preset
    refines at 2x); `frame_modulus`: frames = k * temporal compression + 1."""
    from fastvideo.registry import get_default_preset, get_model_family, get_pipeline_config_cls_from_name

    cls = get_pipeline_config_cls_from_name(model_id)
    config = cls()
    vae = config.vae_config.arch_config
    spatial = CHECKPOINT_VAE_SPATIAL.get(cls.__name__, int(getattr(vae, "spatial_compression_ratio", 8)))
    multiple = spatial * _patch(config.dit_config.arch_config)
    preset_name = get_default_preset(model_id)
    if preset_name:
        from fastvideo.api.presets import get_preset

        preset = get_preset(preset_name, get_model_family(model_id))
        if any(stage.kind == "refinement" for stage in preset.stage_schemas):
            multiple *= 2
    return {"pixel_multiple": multiple, "frame_modulus": int(getattr(vae, "temporal_compression_ratio", 1))}


def model_features(model_id: str) -> list[str]:
    """What the model's pipeline config says it can do, as the spec's fields ask
    (Applies.feature): "vsa", its DiT lists FastVideo's video sparse attention;
    "experts", two transformers split by a boundary ratio (Wan2.2 A14B)."""
    from fastvideo.registry import get_pipeline_config_cls_from_name

    config = get_pipeline_config_cls_from_name(model_id)()
    backends = getattr(config.dit_config.arch_config, "_supported_attention_backends", ())
    features = ["vsa"] if any(getattr(b, "name", None) == "VIDEO_SPARSE_ATTN" for b in backends) else []
    return features + (["experts"] if getattr(config, "boundary_ratio", None) is not None else [])


def probe() -> list[dict[str, Any]]:
    from fastvideo import SamplingParam
    from fastvideo.registry import get_registered_models_with_workloads

    models = []
    entries = {entry["id"]: entry for kind in ("t2v", "i2v", "ti2v")
               for entry in get_registered_models_with_workloads(kind)}
    for entry in entries.values():
        workloads = list(entry.get("workload_types") or [])
        if AUDIO_WORKLOADS & set(workloads):
            continue
        defaults: dict[str, Any] = {}
        try:
            param = SamplingParam.from_pretrained(entry["id"])
            defaults = {name: getattr(param, name) for name in FIELDS if getattr(param, name, None) is not None}
        except Exception as exc:  # noqa: BLE001 - a model without offline defaults keeps the built-in ones
            print(f"no defaults for {entry['id']}: {exc}", file=sys.stderr)
        rules: dict[str, int] = {}
        try:
            rules = size_rules(entry["id"])
        except Exception as exc:  # noqa: BLE001 - FastVideo's own check (multiples of 8) still applies
            print(f"no size rules for {entry['id']}: {exc}", file=sys.stderr)
        found: dict[str, Any] = {}
        try:
            found["features"] = model_features(entry["id"])
        except Exception as exc:  # noqa: BLE001 - unknown: the built-in entry's, or none
            print(f"no features for {entry['id']}: {exc}", file=sys.stderr)
        models.append({"id": entry["id"], "label": entry.get("label") or entry["id"],
                       "workload_types": workloads, "defaults": defaults, "size_rules": rules, **found})
    return models


def main() -> None:
    sys.stdout.flush()
    answer = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    json.dump(probe(), answer)
    answer.close()


if __name__ == "__main__":
    main()
