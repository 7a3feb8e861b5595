"""The model catalogue and the parameter rules a job must meet to be created.

The built-in models are data; a Catalogue is one server's set of models (the
runtime's own). Availability is decided by the caller, which knows the device
inventory and whether fastvideo is installed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..backends.registry import FASTVIDEO, backend_spec
from ..words import plural

PREVIEW_MODEL_ID = "fastvideo-ui/preview"
_PARAMETERS = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)B(?![A-Za-z])")

# FastVideo 0.2.1's own sampling defaults (see shared/spec/fastvideo-api-notes.md).
WAN_NEGATIVE_PROMPT = (
    "Bright tones, overexposed, static, blurred details, subtitles, style, works, "
    "paintings, images, static, overall gray, worst quality, low quality, JPEG "
    "compression residue, ugly, incomplete, extra fingers, poorly drawn hands, poorly "
    "drawn faces, deformed, disfigured, misshapen limbs, fused fingers, still picture, "
    "messy background, three legs, many people in the background, walking backwards"
)


@dataclass(frozen=True)
class Range:
    min: float
    max: float
    multiple_of: int | None = None
    # frames = k * modulus + remainder (Wan: 4k+1), None where any count works
    modulus: int | None = None
    remainder: int = 0

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"min": self.min, "max": self.max}
        if self.multiple_of:
            out["multiple_of"] = self.multiple_of
        if self.modulus:
            out["form"] = f"{self.modulus}k+{self.remainder}"
        return out


@dataclass(frozen=True)
class ModelSpec:
    id: str
    label: str
    backend: str  # "preview" or "fastvideo"
    type: str
    defaults: dict[str, Any]  # by field name: each MODEL-defaulted field of the spec, the negative prompt too
    limits: dict[str, Range]
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    image_input: str = "none"  # an input image: "none", "optional" or "required"
    image_workload: str = "t2v"  # FastVideo's workload_type for a job with an image: "i2v" or "ti2v"
    features: frozenset[str] = frozenset()  # what it can do that a field may need (spec Applies.feature)
    parameters: float | None = None  # billions, where its id does not say

    @property
    def parameters_b(self) -> float | None:
        """Its size in billions of parameters, as its id says ("Wan2.1-T2V-1.3B", "Wan2.2-T2V-A14B",
        whose experts take turns), else `parameters`. Run-time estimates scale by it."""
        found = _PARAMETERS.search(self.id)
        return float(found.group(1)) if found else self.parameters

    @property
    def device_kind(self) -> str:
        return backend_spec(self.backend).device_kind

    @property
    def oom_retry(self) -> bool:
        """Its backend requeues a job that ran out of memory (a job's retry_on_oom means something)."""
        return backend_spec(self.backend).retries_oom



def _fastvideo_limits(pixel_multiple: int, frame_modulus: int | None, max_side: int = 1280,
                      max_frames: int = 257) -> dict[str, Range]:
    """A FastVideo model's rules: sizes are multiples of its VAE's spatial
    compression times its DiT's patch size, frames are k * its VAE's temporal
    compression + 1 (backends/fastvideo_catalogue.size_rules reads both from
    the installed FastVideo; the built-in models below carry the same values)."""
    modulus = frame_modulus if frame_modulus and frame_modulus > 1 else None
    return {
        "num_inference_steps": Range(1, 200),
        "num_frames": Range(1, max_frames, modulus=modulus, remainder=1 if modulus else 0),
        "height": Range(max(64, pixel_multiple), max_side, multiple_of=pixel_multiple),
        "width": Range(max(64, pixel_multiple), max_side, multiple_of=pixel_multiple),
        "guidance_scale": Range(0.0, 30.0),
        "fps": Range(1, 120),
    }


def _wan_limits(pixel_multiple: int = 16) -> dict[str, Range]:
    return _fastvideo_limits(pixel_multiple, 4)


def _defaults(steps: int, frames: int, h: int, w: int, guidance: float, fps: int,
              negative: str = "") -> dict[str, Any]:
    return {
        "num_inference_steps": steps,
        "num_frames": frames,
        "height": h,
        "width": w,
        "guidance_scale": guidance,
        "fps": fps,
        "negative_prompt": negative,
    }


PREVIEW = ModelSpec(
    id=PREVIEW_MODEL_ID,
    label="Preview renderer (CPU, not a model)",
    backend="preview",
    type="t2v",
    description=(
        "A built-in procedural renderer for trying the tool without a GPU or weights. "
        "It is a preview renderer, not a model: it draws an animation seeded by the prompt and seed, "
        "or, given an image, pans and zooms across it."
    ),
    defaults=_defaults(30, 49, 480, 832, 5.0, 16),
    image_input="optional",  # with one, it animates that picture
    limits={
        "num_inference_steps": Range(1, 10000),
        "num_frames": Range(1, 1000),
        "height": Range(64, 2048, multiple_of=8),
        "width": Range(64, 2048, multiple_of=8),
        "guidance_scale": Range(0.0, 30.0),
        "fps": Range(1, 120),
    },
)

# What FastVideo 0.2.1's configs say of each built-in model (fastvideo_catalogue.model_features reads the same
# from the installed FastVideo): every one's DiT lists VSA among its attention backends; Wan2.2 A14B has two experts.
_VSA = frozenset({"vsa"})
FASTVIDEO_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        id="Wan-AI/Wan2.1-T2V-1.3B-Diffusers", label="Wan2.1 T2V 1.3B", backend="fastvideo",
        type="t2v", defaults=_defaults(50, 81, 480, 832, 3.0, 16, WAN_NEGATIVE_PROMPT),
        limits=_wan_limits(), features=_VSA,
    ),
    ModelSpec(
        id="Wan-AI/Wan2.1-T2V-14B-Diffusers", label="Wan2.1 T2V 14B", backend="fastvideo",
        type="t2v", defaults=_defaults(50, 81, 720, 1280, 5.0, 16, WAN_NEGATIVE_PROMPT),
        limits=_wan_limits(), features=_VSA,
    ),
    ModelSpec(
        id="Wan-AI/Wan2.1-I2V-14B-480P-Diffusers", label="Wan2.1 I2V 14B 480P", backend="fastvideo",
        type="i2v", defaults=_defaults(40, 81, 480, 832, 5.0, 16, WAN_NEGATIVE_PROMPT),
        limits=_wan_limits(),
        image_input="required", image_workload="i2v", features=_VSA,
    ),
    ModelSpec(
        id="FastVideo/FastWan2.1-T2V-1.3B-Diffusers", label="FastWan2.1 T2V 1.3B (3-step)",
        backend="fastvideo", type="t2v", defaults=_defaults(3, 61, 448, 832, 3.0, 16, WAN_NEGATIVE_PROMPT),
        limits=_wan_limits(), features=_VSA,
    ),
    ModelSpec(
        id="Wan-AI/Wan2.2-TI2V-5B-Diffusers", label="Wan2.2 TI2V 5B", backend="fastvideo",
        type="t2v", defaults=_defaults(50, 121, 704, 1280, 5.0, 24, WAN_NEGATIVE_PROMPT),
        limits=_wan_limits(32), features=_VSA,
    ),
    ModelSpec(
        id="Wan-AI/Wan2.2-T2V-A14B-Diffusers", label="Wan2.2 T2V A14B (MoE)", backend="fastvideo",
        type="t2v", defaults=_defaults(40, 81, 720, 1280, 4.0, 16, WAN_NEGATIVE_PROMPT),
        limits=_wan_limits(), features=_VSA | {"experts"},
    ),
    ModelSpec(
        id="Lightricks/LTX-2", label="LTX-2", backend="fastvideo", type="t2v",
        defaults=_defaults(40, 121, 512, 768, 3.0, 24),
        limits=_fastvideo_limits(32, 8), features=_VSA, parameters=19.0,
    ),
)

BUILT_IN_MODELS: tuple[ModelSpec, ...] = (PREVIEW, *FASTVIDEO_MODELS)


class Catalogue:
    """The models one server serves: the built-in ones, and those the installed
    FastVideo's registry adds (`adopt`). The runtime owns one and hands it to
    whoever looks a model up, so two servers in one process (tests) never share it."""

    def __init__(self, models: Iterable[ModelSpec] | None = None) -> None:
        # None: BUILT_IN_MODELS as the module holds it now (a test may patch it before a server builds).
        self._by_id = {spec.id: spec for spec in (BUILT_IN_MODELS if models is None else models)}

    def find(self, model_id: str) -> ModelSpec | None:
        return self._by_id.get(model_id)

    def all(self) -> list[ModelSpec]:
        return list(self._by_id.values())

    def adopt(self, entries: list[dict[str, Any]]) -> int:
        """Take the installed FastVideo's text- and image-to-video models, their
        defaults and their size rules (from fastvideo_catalogue's probe).
        Returns how many models were added. The new table replaces the old one
        whole, so a route reading the catalogue in a thread meanwhile sees one or the other."""
        by_id = dict(self._by_id)
        added = 0
        for entry in entries:
            workloads = set(entry.get("workload_types", []))
            image_workload = next((kind for kind in ("i2v", "ti2v") if kind in workloads), None)
            if ("t2v" not in workloads and image_workload is None) or workloads & {"t2a", "v2a"}:
                continue  # Stable Audio is registered as t2v too
            model_id = str(entry["id"])
            known = by_id.get(model_id)
            if known is not None and known.backend != FASTVIDEO.name:
                continue
            given = entry.get("defaults") or {}
            base = known.defaults if known else _defaults(50, 81, 480, 832, 5.0, 16)
            defaults = {name: given.get(name, value) for name, value in base.items()}
            by_id[model_id] = ModelSpec(
                id=model_id,
                label=known.label if known else str(entry.get("label") or model_id),
                backend="fastvideo", type="t2v" if "t2v" in workloads else str(image_workload), defaults=defaults,
                limits=_probed_limits(entry, known),
                description=known.description if known else "from the installed FastVideo's registry",
                image_input="none" if image_workload is None else ("optional" if "t2v" in workloads else "required"),
                image_workload=image_workload or "t2v",
                features=frozenset(entry["features"]) if "features" in entry else (
                    known.features if known else frozenset()),
            )
            added += known is None
        self._by_id = by_id
        return added


def _probed_limits(entry: dict[str, Any], known: ModelSpec | None) -> dict[str, Range]:
    """The size rules the probe read from FastVideo's config for this model;
    without them, the built-in ones, else FastVideo's own check (multiples of 8)."""
    rules = entry.get("size_rules") or {}
    if rules.get("pixel_multiple"):
        max_side = 1280 if known is None else int(known.limits["height"].max)
        return _fastvideo_limits(int(rules["pixel_multiple"]), rules.get("frame_modulus"), max_side=max_side)
    if known is not None:
        return known.limits
    return _fastvideo_limits(8, None, max_side=2048)


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


def check_params(spec: ModelSpec, params: dict[str, Any], device_count: int | None,
                 elastic: bool = False) -> list[FieldError]:
    """Every way `params` breaks `spec`'s limits, one error per field."""
    errors: list[FieldError] = []
    for name, rule in spec.limits.items():
        value = params.get(name)
        if value is None:
            continue
        if not rule.min <= value <= rule.max:
            errors.append(FieldError(name, f"must be between {_num(rule.min)} and {_num(rule.max)} for {spec.id}"))
        elif rule.multiple_of and int(value) % rule.multiple_of:
            errors.append(FieldError(name, f"must be a multiple of {rule.multiple_of} for {spec.id}"))
        elif rule.modulus and int(value) % rule.modulus != rule.remainder:
            errors.append(
                FieldError(name, f"must be of the form {rule.modulus}k+{rule.remainder} "
                                 f"(e.g. {_nearest_form(int(value), rule)}) for {spec.id}")
            )
    num_gpus = params.get("num_gpus")
    if num_gpus is not None and device_count is not None and num_gpus > device_count:
        kind = "CPU slot" if spec.device_kind == "cpu" else "GPU"
        errors.append(FieldError(
            "num_gpus", f"asks for {plural(num_gpus, kind)} but this server has {plural(device_count, kind)} "
                        f"for {spec.id}" + (" on its largest Ray node" if elastic else "")
        ))
    return errors


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _nearest_form(value: int, rule: Range) -> int:
    assert rule.modulus
    k = max(0, round((value - rule.remainder) / rule.modulus))
    return k * rule.modulus + rule.remainder


def availability(spec: ModelSpec, fastvideo_installed: bool, gpu_count: int, gpu_reason: str) -> tuple[bool, str]:
    """Whether jobs for `spec` can run on this server, and why not."""
    if backend_spec(spec.backend).requires is None:
        return True, ""
    if not fastvideo_installed:
        return False, "fastvideo is not installed (pip install 'fastvideo-ui[fastvideo]')"
    if gpu_count == 0:
        return False, f"no CUDA GPU: {gpu_reason}" if gpu_reason else "no CUDA GPU"
    return True, ""
