"""A fake `pynvml` (nvidia-ml-py) for a server under test: the GPUs named in
FAKE_NVML_UUIDS (comma-separated), numbered in that order as NVML numbers GPUs
in PCI bus order. Only what fastvideo-ui calls."""

from __future__ import annotations

import os
from types import SimpleNamespace

NVML_TEMPERATURE_GPU = 0


class NVMLError(Exception):
    pass


def _uuids() -> list[str]:
    return [u for u in os.environ.get("FAKE_NVML_UUIDS", "").split(",") if u]


def nvmlInit() -> None:
    pass


def nvmlShutdown() -> None:
    pass


def nvmlDeviceGetCount() -> int:
    return len(_uuids())


def nvmlDeviceGetHandleByIndex(index: int) -> int:
    if not 0 <= index < len(_uuids()):
        raise NVMLError("Invalid Argument")
    return index


def nvmlDeviceGetHandleByUUID(uuid: str) -> int:
    try:
        return _uuids().index(uuid)
    except ValueError:
        raise NVMLError("Not Found") from None


def nvmlDeviceGetIndex(handle: int) -> int:
    return handle


def nvmlDeviceGetName(handle: int) -> str:
    return "NVIDIA H100 80GB HBM3"


def nvmlDeviceGetMemoryInfo(handle: int) -> SimpleNamespace:
    return SimpleNamespace(used=2**30, total=80 * 2**30)


def nvmlDeviceGetUtilizationRates(handle: int) -> SimpleNamespace:
    return SimpleNamespace(gpu=0)


def nvmlDeviceGetTemperature(handle: int, sensor: int) -> int:
    return 40
