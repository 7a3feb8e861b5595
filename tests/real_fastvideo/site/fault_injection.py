"""Test-only faults inside a real FastVideo GPU worker, asked for by the prompt:

    [fault:oom@2]   raise torch.OutOfMemoryError with CUDA's message after step 2
    [fault:kill@2]  SIGKILL the GPU worker after step 2

They run where a real CUDA out-of-memory or a kernel OOM kill would: in the
GPU worker FastVideo spawned, inside its denoising loop, so everything after
them (FastVideo's SIGQUIT to its parent, its "Forward execution thread failed",
our worker and server) is the real code path.
"""

from __future__ import annotations

import os
import re
import signal
from types import ModuleType
from typing import Any

from import_hooks import after_import

_FAULT = re.compile(r"\[fault:(?P<kind>oom|kill)@(?P<step>\d+)\]")
_current: dict[str, Any] = {}


def _fail(kind: str) -> None:
    if kind == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    import torch

    raise torch.OutOfMemoryError(
        "CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has a total capacity of 79.19 GiB of which "
        "1.06 GiB is free. Including non-PyTorch memory, this process has 78.12 GiB memory in use.")


def _mend_denoising(module: ModuleType) -> None:
    stage = module.DenoisingStage
    forward, progress_bar = stage.forward, stage.progress_bar

    def forward_watching_prompt(self: Any, batch: Any, *args: Any, **kwargs: Any) -> Any:
        prompt = batch.prompt if isinstance(batch.prompt, str) else " ".join(batch.prompt or [])
        match = _FAULT.search(prompt or "")
        _current.clear()
        if match:
            _current.update(kind=match["kind"], step=int(match["step"]))
        return forward(self, batch, *args, **kwargs)

    def progress_bar_with_fault(self: Any, *args: Any, **kwargs: Any) -> Any:
        bar = progress_bar(self, *args, **kwargs)
        if _current:
            update = bar.update

            def update_then_fail(n: int = 1) -> Any:
                result = update(n)
                if bar.n >= _current["step"]:
                    _fail(_current["kind"])
                return result

            bar.update = update_then_fail
        return bar

    stage.forward = forward_watching_prompt
    stage.progress_bar = progress_bar_with_fault


def install() -> None:
    after_import("fastvideo.pipelines.stages.denoising", _mend_denoising)
