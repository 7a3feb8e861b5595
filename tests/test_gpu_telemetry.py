"""GPU telemetry: NVML's figures per device, or a reason; never an exception."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from fastvideo_ui.workers.devices import Inventory, gpu_telemetry


def fake_nvml(fail_init: bool = False) -> Any:
    class NVMLError(Exception):
        pass

    def init() -> None:
        if fail_init:
            raise NVMLError("Driver Not Loaded")

    module = types.SimpleNamespace(
        NVMLError=NVMLError, NVML_TEMPERATURE_GPU=0, nvmlInit=init, nvmlShutdown=lambda: None,
        nvmlDeviceGetHandleByIndex=lambda index: f"h{index}",
        nvmlDeviceGetHandleByUUID=lambda uuid: f"h-{uuid}",
        nvmlDeviceGetName=lambda handle: b"NVIDIA H100 80GB HBM3",
        nvmlDeviceGetMemoryInfo=lambda handle: types.SimpleNamespace(used=2 * 2**30, total=80 * 2**30),
        nvmlDeviceGetUtilizationRates=lambda handle: types.SimpleNamespace(gpu=37 if handle == "h1" else 0),
        nvmlDeviceGetTemperature=lambda handle, sensor: 51,
    )
    return module


def test_figures_per_gpu_and_who_holds_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml())
    inventory = Inventory(("0", "1"), "nvml", "", ())
    answer = gpu_telemetry(inventory, {"1": "job-a"})
    assert answer["available"] is True and answer["reason"] == ""
    first, second = answer["gpus"]
    assert first == {"id": "0", "name": "NVIDIA H100 80GB HBM3", "memory_used_bytes": 2 * 2**30,
                     "memory_total_bytes": 80 * 2**30, "utilization_percent": 0, "temperature_c": 51,
                     "job_id": None}
    assert second["utilization_percent"] == 37 and second["job_id"] == "job-a"


def test_no_driver_is_an_answer_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(fail_init=True))
    answer = gpu_telemetry(Inventory(("0",), "--gpus", "", ()), {})
    assert answer["available"] is False and "Driver Not Loaded" in answer["reason"]
    assert answer["gpus"][0]["id"] == "0" and answer["gpus"][0]["name"] is None


def test_no_gpu_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml())
    answer = gpu_telemetry(Inventory((), "none", "no NVIDIA GPU found", ()), {})
    assert answer == {"available": False, "reason": "no NVIDIA GPU found", "source": "none", "gpus": []}
