"""Test-only shims that let the real fastvideo 0.2.1 run on a CPU-only torch.

Applied in every interpreter of a test run by sitecustomize (beside this
file), each right after the module it mends has run, before anything else can
import from it, and only when torch has no CUDA: on a CUDA machine none of
them is needed and none is applied. Nothing in src/ knows about this file.

Why each one exists (line numbers are fastvideo 0.2.1's):
- device: distributed/parallel_state.py:883-892 `get_local_torch_device()`
  answers `mps` on every platform that is not CUDA or NPU.
- attention: platforms/interface.py:136, the CPU platform names no attention
  backend, so attention/selector.py:291 raises "Invalid attention backend".
- autocast: every stage enters `torch.autocast(device_type="cuda")`
  (stages/denoising.py:465 and 25 more), which is off without CUDA, so bf16
  weights meet fp32 inputs. Without CUDA it becomes CPU autocast.
- torchvision: PyPI's torchvision is a CUDA build whose `_C.so` cannot load
  beside CPU torch, and its meta registrations then fail with "operator
  torchvision::nms does not exist". The two op schemas are defined first.
- synchronize: with FASTVIDEO_STAGE_LOGGING=1, stages/base.py:149 times each
  stage with `torch.cuda.synchronize()`, which raises on CPU torch.
- offload: `text_encoder_cpu_offload` builds an FSDP mesh with
  `init_device_mesh("cuda")` (models/loader/component_loader.py:482), and
  pinned host memory needs CUDA (entrypoints/video_generator.py:829); there is
  no GPU to offload from, so both are turned off in `from_pretrained`.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from import_hooks import after_import, before_import

_KEEP: list[Any] = []  # torch.library objects must stay alive


def _no_cuda() -> bool:
    import torch

    return not torch.cuda.is_available()


def _mend_torch(torch: ModuleType) -> None:
    if torch.cuda.is_available():
        return
    autocast = torch.autocast

    class CpuAutocast(autocast):  # type: ignore[misc, valid-type]
        def __init__(self, device_type: str, *args: Any, **kwargs: Any) -> None:
            super().__init__("cpu" if device_type == "cuda" else device_type, *args, **kwargs)

    torch.autocast = CpuAutocast
    torch.cuda.synchronize = lambda device=None: None


def _mend_parallel_state(module: ModuleType) -> None:
    if not _no_cuda():
        return
    import torch

    module.get_local_torch_device = lambda: torch.device("cpu")


def _mend_cpu_platform(module: ModuleType) -> None:
    module.CpuPlatform.get_attn_backend_cls = classmethod(
        lambda cls, selected_backend, head_size, dtype: "fastvideo.attention.backends.sdpa.SDPABackend")


def _mend_video_generator(module: ModuleType) -> None:
    if not _no_cuda():
        return
    original = module.VideoGenerator.from_pretrained.__func__

    def from_pretrained(cls: type, *args: Any, **kwargs: Any) -> Any:
        kwargs["text_encoder_cpu_offload"] = False
        kwargs["pin_cpu_memory"] = False
        return original(cls, *args, **kwargs)

    module.VideoGenerator.from_pretrained = classmethod(from_pretrained)


def _mend_lora_linear(module: ModuleType) -> None:
    if not _no_cuda():
        return
    layer = module.BaseLayerWithLoRA
    init, unmerge = layer.__init__, layer.unmerge_lora_weights

    def __init__(self: Any, base_layer: Any, *args: Any, **kwargs: Any) -> None:
        init(self, base_layer, *args, **kwargs)
        if self.cpu_weight.data_ptr() == base_layer.weight.data_ptr():
            del self.cpu_weight  # the weight itself, registered as a second parameter
            self.cpu_weight = base_layer.weight.detach().clone()

    def unmerge_lora_weights(self: Any, *args: Any, **kwargs: Any) -> None:
        unmerge(self, *args, **kwargs)
        weight = self.base_layer.weight
        if weight.data_ptr() == self.cpu_weight.data_ptr():
            weight.data = self.cpu_weight.clone()

    layer.__init__ = __init__
    layer.unmerge_lora_weights = unmerge_lora_weights


def _define_torchvision_ops() -> None:
    import torch

    if torch.cuda.is_available():
        return
    library = torch.library.Library("torchvision", "FRAGMENT")
    library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    library.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _KEEP.append(library)


def install() -> None:
    after_import("torch", _mend_torch)
    after_import("fastvideo.distributed.parallel_state", _mend_parallel_state)
    after_import("fastvideo.platforms.cpu", _mend_cpu_platform)
    after_import("fastvideo.entrypoints.video_generator", _mend_video_generator)
    after_import("fastvideo.layers.lora.linear", _mend_lora_linear)
    before_import("torchvision", _define_torchvision_ops)
