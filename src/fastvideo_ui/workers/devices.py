"""The device inventory: which GPUs this server may hand out, and CPU slots."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Inventory:
    """Local GPUs are fixed at start. With --ray the GPU fields follow the
    cluster (workers/ray_fleet.py rewrites them as nodes join and leave)."""

    gpus: tuple[str, ...]
    gpu_source: str  # "--gpus", "CUDA_VISIBLE_DEVICES", "nvml", "ray" or "none"
    gpu_reason: str  # why there are none, when there are none
    cpu_slots: tuple[str, ...]
    # The index CUDA_VISIBLE_DEVICES must carry for a GPU named by UUID:
    # FastVideo calls int() on every entry (platforms/cuda.py).
    cuda_indices: dict[str, str] = field(default_factory=dict)
    nodes: dict[str, str] = field(default_factory=dict)  # GPU -> its Ray node's key; empty: one node
    node_names: dict[str, str] = field(default_factory=dict)  # node key -> host name

    def devices(self, kind: str) -> tuple[str, ...]:
        return self.gpus if kind == "gpu" else self.cpu_slots

    @property
    def elastic(self) -> bool:
        """Devices come and go (a Ray cluster): a job too big for now waits."""
        return self.gpu_source == "ray"

    def capacity(self, kind: str) -> int | None:
        """The most devices one job of `kind` can have (on one node); None: not known now."""
        devices = self.devices(kind)
        if kind != "gpu" or not self.elastic:
            return len(devices)
        if not devices:
            return None  # the cluster is out of reach: a job waits for it
        per_node: dict[str, int] = {}
        for gpu in devices:
            per_node[self.nodes.get(gpu, "")] = per_node.get(self.nodes.get(gpu, ""), 0) + 1
        return max(per_node.values())

    def cuda_visible_devices(self, gpus: tuple[str, ...]) -> str:
        return ",".join(self.cuda_indices.get(gpu, gpu) for gpu in gpus)


class NvmlUnavailable(Exception):
    """NVML cannot be used here; the message says why, for a user."""

    def __init__(self, reason: str, installed: bool) -> None:
        super().__init__(reason)
        self.installed = installed  # nvidia-ml-py is there, the driver is not


@contextmanager
def nvml_session() -> Iterator[Any]:
    """pynvml, initialised for the block and shut down after it."""
    try:
        import pynvml
    except ImportError:
        raise NvmlUnavailable("nvidia-ml-py is not installed", installed=False) from None
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # noqa: BLE001 - NVMLError and driver-less machines alike
        raise NvmlUnavailable(f"no NVIDIA driver ({exc})", installed=True) from None
    try:
        yield pynvml
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass


def _nvml_count() -> tuple[int, str]:
    try:
        with nvml_session() as nvml:
            return nvml.nvmlDeviceGetCount(), ""
    except NvmlUnavailable as exc:
        return 0, str(exc)


def parse_gpu_list(text: str) -> tuple[str, ...]:
    """`0,1` -> ("0", "1"); `none` or empty -> (). Ids may be UUIDs."""
    if text.strip().lower() in ("", "none", "-1"):
        return ()
    ids = tuple(part.strip() for part in text.split(",") if part.strip())
    if len(set(ids)) != len(ids):
        raise ValueError(f"--gpus lists a device twice: {text!r}")
    return ids


def nvml_indices(uuids: list[str]) -> dict[str, str]:
    """NVML's index for each GPU UUID. NVML numbers GPUs in PCI bus order,
    which is CUDA's order under CUDA_DEVICE_ORDER=PCI_BUS_ID (workers set it).
    Raises ValueError naming the first UUID it cannot place."""
    if not uuids:
        return {}
    try:
        with nvml_session() as nvml:
            indices = {}
            for uuid in uuids:
                try:
                    indices[uuid] = str(nvml.nvmlDeviceGetIndex(nvml.nvmlDeviceGetHandleByUUID(uuid)))
                except Exception as exc:  # noqa: BLE001
                    raise ValueError(f"GPU {uuid}: NVML does not know this UUID ({exc})") from None
            return indices
    except NvmlUnavailable as exc:
        raise ValueError(f"GPU {uuids[0]} is named by UUID, and without NVML ({exc}) it cannot be turned into "
                         f"the numeric index FastVideo needs; name GPUs by index") from None


def _named(gpus: tuple[str, ...], source: str, empty_reason: str, cpu: tuple[str, ...]) -> Inventory:
    uuids = [gpu for gpu in gpus if not gpu.isdigit()]
    return Inventory(gpus, source, "" if gpus else empty_reason, cpu, nvml_indices(uuids))


def detect_inventory(gpus_flag: str | None, cpu_slots: int) -> Inventory:
    """Raises ValueError for a GPU list that cannot be used."""
    cpu = tuple(f"cpu{i}" for i in range(cpu_slots))
    if gpus_flag is not None:
        return _named(parse_gpu_list(gpus_flag), "--gpus", "--gpus names no GPU", cpu)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return _named(parse_gpu_list(visible), "CUDA_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES hides every GPU", cpu)
    count, reason = _nvml_count()
    if count:
        return Inventory(tuple(str(i) for i in range(count)), "nvml", "", cpu)
    return Inventory((), "none", reason or "no NVIDIA GPU found", cpu)


def _nvml_handle(pynvml, device_id: str):  # type: ignore[no-untyped-def]
    if device_id.isdigit():
        return pynvml.nvmlDeviceGetHandleByIndex(int(device_id))
    return pynvml.nvmlDeviceGetHandleByUUID(device_id)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def gpu_telemetry(inventory: Inventory, holders: dict[str, str]) -> dict[str, object]:
    """Each GPU this server hands out, with NVML's live figures where it can
    read them, and the job holding it. Never raises: no NVIDIA is an answer.

    Numeric ids are NVML indices, which match CUDA's order only with
    CUDA_DEVICE_ORDER=PCI_BUS_ID; UUIDs are unambiguous.
    """
    rows: list[dict[str, object]] = [
        {"id": gpu, "name": None, "memory_used_bytes": None, "memory_total_bytes": None,
         "utilization_percent": None, "temperature_c": None, "job_id": holders.get(gpu)}
        for gpu in inventory.gpus
    ]
    if inventory.elastic:
        # A Ray node's GPUs are not this machine's: NVML here knows nothing of them.
        for row in rows:
            node = inventory.nodes.get(str(row["id"]), "")
            row.update(node=node, node_name=inventory.node_names.get(node, ""))
        return {"available": bool(rows), "reason": inventory.gpu_reason, "source": inventory.gpu_source,
                "gpus": rows}
    reason = inventory.gpu_reason
    available = False
    try:
        with nvml_session() as nvml:
            available = bool(rows)
            for row in rows:
                try:
                    handle = _nvml_handle(nvml, str(row["id"]))
                    memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                    row.update(
                        name=_text(nvml.nvmlDeviceGetName(handle)),
                        memory_used_bytes=int(memory.used), memory_total_bytes=int(memory.total),
                        utilization_percent=int(nvml.nvmlDeviceGetUtilizationRates(handle).gpu),
                        temperature_c=int(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)),
                    )
                except Exception as exc:  # noqa: BLE001 - one unreadable GPU does not hide the rest
                    row["error"] = str(exc)
    except NvmlUnavailable as exc:
        reason = str(exc) if exc.installed else (reason or str(exc))
    if not rows:
        available = False
        reason = reason or "this server hands out no GPU"
    return {"available": available, "reason": "" if available else reason,
            "source": inventory.gpu_source, "gpus": rows}
