"""The LoRA adapters a loaded FastVideo generator holds, switched per job
without a reload: a job on the same base model with other LoRAs costs a few
milliseconds, not a load.

FastVideo 0.2.1 (pipelines/lora_pipeline.py, layers/lora/linear.py) has no
"remove adapter": `unmerge_lora_weights` only moves an adapter to run time.
What restores a layer exactly is `set_lora_adapter(nickname, strength=0.0)`
(unmerge, then add zero), and only in the layers that adapter covers: a
layer a new adapter lacks is marked, not unmerged, so the old adapter would
stay merged there. So every switch first sets each adapter merged since the
base to strength 0, then merges the job's in order (the second and later
with accumulate=True). Measured on the real library: every sequence of
adapters, partial and stacked, gives bit-equal frames to the same LoRAs on a
fresh load, and no LoRA gives the base model's frames.

FastVideo keeps every adapter it has read in GPU memory until the model is
shut down, so after MAX_HELD_ADAPTERS distinct files the model is loaded
afresh (the log says why). An adapter with a dense payload (.diff/.set_weight
keys) is applied only when the model loads; FastVideo refuses any runtime change while one is
active. Such a job reloads, and the log says why. A failed set_lora_adapter
kills FastVideo's GPU worker, so what would fail is checked here first.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Adapter:
    name: str  # as the job names it (a library name, a Hub id)
    path: str  # the .safetensors file the server resolved it to
    strength: float
    nickname: str  # FastVideo's key for it: its file's identity (FastVideo caches an adapter by nickname and path)


# FastVideo 0.2.1 keeps each adapter it has read on the GPU (LoRAPipeline.lora_adapters) with no way to drop one:
# a worker that has held this many distinct LoRA files loads its model afresh before taking another.
MAX_HELD_ADAPTERS = 8


class LoraRefused(Exception):
    """A set of LoRAs FastVideo cannot apply together: the job fails, saying why."""


def adapters_of(resolved: Sequence[Mapping[str, Any]]) -> tuple[Adapter, ...]:
    """The job's LoRAs (jobs/lora_inputs.py's resolved entries) as FastVideo gets them; one at strength 0
    changes nothing and is left out."""
    out = []
    for entry in resolved:
        path = str(entry["path"])
        try:
            info = os.stat(path)
        except OSError as exc:
            raise LoraRefused(f"LoRA {entry['lora']}: its file {path} cannot be read ({exc.strerror})") from None
        identity = f"{path}|{info.st_size}|{info.st_mtime_ns}"  # a file replaced under its name is another
        nickname = "lora-" + hashlib.sha256(identity.encode()).hexdigest()[:16]
        if float(entry["strength"]) != 0.0:
            out.append(Adapter(str(entry["lora"]), path, float(entry["strength"]), nickname))
    return tuple(out)


def _dense(adapter: Adapter) -> bool:
    from fastvideo.models.loader.lora_patch import DenseLoRAPatch  # reads the file's keys only

    return DenseLoRAPatch.from_adapter(adapter.path) is not None


class AdapterState:
    """What one loaded generator holds: the adapters merged now, and those merged since the base."""

    def __init__(self, constructed: tuple[Adapter, ...] = ()) -> None:
        self.applied = constructed
        self.touched: list[str] = []  # nicknames to set to 0 to be back at the base
        self.loaded = {adapter.nickname for adapter in constructed}  # every adapter FastVideo holds the weights of
        self.dense = constructed[0] if constructed else None  # applied at load: any change needs a new load

    def reload_reason(self, wanted: tuple[Adapter, ...]) -> str | None:
        """Why `wanted` needs the model loaded again, or None: a runtime switch will do."""
        if wanted == self.applied:
            return None
        dense = [adapter for adapter in wanted if _dense(adapter)]
        if dense and len(wanted) > 1:
            raise LoraRefused(f"LoRA {dense[0].name} carries a dense payload (.diff/.set_weight keys): FastVideo "
                              f"0.2.1 applies such an adapter only alone, when the model loads; run it without "
                              f"the other LoRAs")
        if self.dense is not None:
            return (f"LoRA {self.dense.name} was applied when the model loaded (it carries a dense payload) and "
                    f"FastVideo cannot change it at run time")
        if dense:
            return (f"LoRA {dense[0].name} carries a dense payload (.diff/.set_weight keys), which FastVideo "
                    f"applies only when the model loads")
        if len(self.loaded | {adapter.nickname for adapter in wanted}) > MAX_HELD_ADAPTERS:
            return (f"the loaded model holds {len(self.loaded)} LoRAs' weights (FastVideo keeps every adapter "
                    f"it has read, on the GPU, until the model is shut down): loading it afresh frees them")
        return None

    @staticmethod
    def load_kwargs(wanted: tuple[Adapter, ...]) -> dict[str, Any]:
        """from_pretrained's LoRA keywords for a load that applies `wanted` (one dense adapter), else none."""
        if len(wanted) == 1 and _dense(wanted[0]):
            adapter = wanted[0]
            return {"lora_path": adapter.path, "lora_nickname": adapter.nickname, "lora_strength": adapter.strength}
        return {}

    def switch(self, generator: Any, wanted: tuple[Adapter, ...]) -> bool:
        """Make `wanted` the merged adapters; False when they already are."""
        if wanted == self.applied:
            return False
        for nickname in self.touched:
            generator.set_lora_adapter(nickname, strength=0.0)
        self.touched = []
        for index, adapter in enumerate(wanted):
            self.touched.append(adapter.nickname)
            self.loaded.add(adapter.nickname)
            generator.set_lora_adapter(adapter.nickname, adapter.path, strength=adapter.strength,
                                       accumulate=index > 0)
        self.applied = wanted
        return True
