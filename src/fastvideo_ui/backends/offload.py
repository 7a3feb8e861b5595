"""What FastVideo's memory-offload options really do, in one place.

FastVideo 0.2.1 defaults `dit_cpu_offload`, `text_encoder_cpu_offload`,
`vae_cpu_offload` and `dit_layerwise_offload` to on and `use_fsdp_inference` to
off, and while `dit_layerwise_offload` is on it switches `dit_cpu_offload` and
`use_fsdp_inference` off (fastvideo_args.py, `_resolve_device_offload_conflicts`).
A job stores the values FastVideo will use, so what a job says is what ran; a
request that turns on an option FastVideo would silently turn off is refused.
The defaults and the rule are the spec's (spec/fields.py: the offload fields'
later() defaults and off_when; spec/rules.py: resolve_later, MOST_OFFLOAD).
"""

from __future__ import annotations

from collections.abc import Mapping


def memory_advice(options: Mapping[str, bool]) -> str:
    """What to try after running out of GPU memory, naming only options that
    would change something for this job."""
    tries = ["fewer frames", "a smaller size"]
    if not (options.get("dit_layerwise_offload") or options.get("dit_cpu_offload")):
        tries.append("dit_layerwise_offload")
    tries += [name for name in ("text_encoder_cpu_offload", "vae_cpu_offload") if not options.get(name)]
    tries.append("more GPUs (num_gpus)")
    return "try " + ", ".join(tries[:-1]) + ", or " + tries[-1]
