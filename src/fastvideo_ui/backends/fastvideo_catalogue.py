"""`python -m fastvideo_ui.backends.fastvideo_catalogue`: print FastVideo's
registered text-to-video models and their default sampling parameters as
JSON. The server runs it as a child process, because importing fastvideo
imports torch, which the server never does."""

from __future__ import annotations

import json
import sys
from typing import Any

FIELDS = ("height", "width", "num_frames", "fps", "num_inference_steps", "guidance_scale", "negative_prompt")


def probe() -> list[dict[str, Any]]:
    from fastvideo import SamplingParam
    from fastvideo.registry import get_registered_models_with_workloads

    models = []
    for entry in get_registered_models_with_workloads("t2v"):
        defaults: dict[str, Any] = {}
        try:
            param = SamplingParam.from_pretrained(entry["id"])
            defaults = {name: getattr(param, name) for name in FIELDS if getattr(param, name, None) is not None}
        except Exception as exc:  # noqa: BLE001 - a model without offline defaults keeps the built-in ones
            print(f"no defaults for {entry['id']}: {exc}", file=sys.stderr)
        models.append({"id": entry["id"], "label": entry.get("label") or entry["id"],
                       "workload_types": list(entry.get("workload_types") or []), "defaults": defaults})
    return models


if __name__ == "__main__":
    json.dump(probe(), sys.stdout)
