"""What FastVideo's memory-offload options really do, in one place.

FastVideo 0.2.1 defaults `dit_cpu_offload`, `text_encoder_cpu_offload`,
`vae_cpu_offload` and `dit_layerwise_offload` to on and `use_fsdp_inference` to
off, and while `dit_layerwise_offload` is on it switches `dit_cpu_offload` and
`use_fsdp_inference` off (fastvideo_args.py, `_resolve_device_offload_conflicts`).
A job stores the values FastVideo will use, so what a job says is what ran; a
request that turns on an option FastVideo would silently turn off is refused.
"""

from __future__ import annotations

from collections.abc import Mapping

OFFLOAD_FIELDS = ("dit_layerwise_offload", "dit_cpu_offload", "use_fsdp_inference",
                  "text_encoder_cpu_offload", "vae_cpu_offload")
FASTVIDEO_DEFAULTS: dict[str, bool] = {
    "dit_layerwise_offload": True,
    "dit_cpu_offload": True,
    "use_fsdp_inference": False,
    "text_encoder_cpu_offload": True,
    "vae_cpu_offload": True,
}
OVERRIDDEN_BY_LAYERWISE = ("dit_cpu_offload", "use_fsdp_inference")
# The least GPU memory FastVideo can be asked to use (a retry after running out):
# layerwise offload keeps one DiT block on the GPU at a time, and switches the
# options it overrides off.
MOST_OFFLOAD: dict[str, bool] = {"dit_layerwise_offload": True, "dit_cpu_offload": False,
                                 "use_fsdp_inference": False, "text_encoder_cpu_offload": True,
                                 "vae_cpu_offload": True}


def resolve_offload(asked: Mapping[str, bool | None]) -> tuple[dict[str, bool], list[tuple[str, str]]]:
    """The options a job will run with, from what a request asked (None: the
    default), and (field, message) for each one that could not hold."""
    values = {name: FASTVIDEO_DEFAULTS[name] if asked.get(name) is None else bool(asked[name])
              for name in OFFLOAD_FIELDS}
    errors: list[tuple[str, str]] = []
    if values["dit_layerwise_offload"]:
        for name in OVERRIDDEN_BY_LAYERWISE:
            if asked.get(name):
                errors.append((name, "has no effect while dit_layerwise_offload is on (FastVideo turns it off); "
                                     "set dit_layerwise_offload to false to use it"))
            values[name] = False
    return values, errors


def memory_advice(options: Mapping[str, bool]) -> str:
    """What to try after running out of GPU memory, naming only options that
    would change something for this job."""
    tries = ["fewer frames", "a smaller size"]
    if not (options.get("dit_layerwise_offload") or options.get("dit_cpu_offload")):
        tries.append("dit_layerwise_offload")
    tries += [name for name in ("text_encoder_cpu_offload", "vae_cpu_offload") if not options.get(name)]
    tries.append("more GPUs (num_gpus)")
    return "try " + ", ".join(tries[:-1]) + ", or " + tries[-1]
