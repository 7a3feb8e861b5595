"""The device inventory: which GPUs this server may hand out, and CPU slots."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Inventory:
    gpus: tuple[str, ...]
    gpu_source: str  # "--gpus", "CUDA_VISIBLE_DEVICES", "nvml" or "none"
    gpu_reason: str  # why there are none, when there are none
    cpu_slots: tuple[str, ...]

    def devices(self, kind: str) -> tuple[str, ...]:
        return self.gpus if kind == "gpu" else self.cpu_slots


def _nvml_count() -> tuple[int, str]:
    try:
        import pynvml
    except ImportError:
        return 0, "nvidia-ml-py is not installed"
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return 0, f"no NVIDIA driver ({exc})"
    try:
        return pynvml.nvmlDeviceGetCount(), ""
    finally:
        pynvml.nvmlShutdown()


def parse_gpu_list(text: str) -> tuple[str, ...]:
    """`0,1` -> ("0", "1"); `none` or empty -> (). Ids may be UUIDs."""
    if text.strip().lower() in ("", "none", "-1"):
        return ()
    ids = tuple(part.strip() for part in text.split(",") if part.strip())
    if len(set(ids)) != len(ids):
        raise ValueError(f"--gpus lists a device twice: {text!r}")
    return ids


def detect_inventory(gpus_flag: str | None, cpu_slots: int) -> Inventory:
    cpu = tuple(f"cpu{i}" for i in range(cpu_slots))
    if gpus_flag is not None:
        gpus = parse_gpu_list(gpus_flag)
        return Inventory(gpus, "--gpus", "" if gpus else "--gpus names no GPU", cpu)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        gpus = parse_gpu_list(visible)
        return Inventory(gpus, "CUDA_VISIBLE_DEVICES", "" if gpus else "CUDA_VISIBLE_DEVICES hides every GPU", cpu)
    count, reason = _nvml_count()
    if count:
        return Inventory(tuple(str(i) for i in range(count)), "nvml", "", cpu)
    return Inventory((), "none", reason or "no NVIDIA GPU found", cpu)
