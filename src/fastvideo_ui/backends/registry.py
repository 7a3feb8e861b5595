"""Every backend, described once: what it runs on and what the server does
differently for it. Code elsewhere asks a BackendSpec, never compares a
backend's name, so adding a backend is one entry here."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Backend


@dataclass(frozen=True)
class BackendSpec:
    name: str
    device_kind: str  # "gpu" or "cpu": which devices its jobs are placed on
    needs_weights: bool  # model weights in the Hugging Face cache: fetched before a run, listed, deletable
    retries_oom: bool  # a run that ran out of GPU memory is retried with more offload (a job's retry_on_oom)
    image_workloads: bool  # a job with an image runs as its model's i2v/ti2v workload, not t2v
    requires: str | None  # the package its worker imports (and the server looks for); None: nothing beyond ours
    real_model: bool  # renders with a real model: what a request naming no model gets first
    module: str  # where its Backend class lives, imported only in a worker (it may import torch)
    class_name: str

    def build(self) -> Backend:
        """A new instance of the backend, for a worker process."""
        backend: Backend = getattr(importlib.import_module(self.module, __package__), self.class_name)()
        return backend


PREVIEW = BackendSpec("preview", device_kind="cpu", needs_weights=False, retries_oom=False, image_workloads=False,
                      requires=None, real_model=False, module=".preview",
                      class_name="PreviewBackend")
FASTVIDEO = BackendSpec("fastvideo", device_kind="gpu", needs_weights=True, retries_oom=True, image_workloads=True,
                        requires="fastvideo", real_model=True, module=".fastvideo",
                        class_name="FastVideoBackend")
BACKENDS = {spec.name: spec for spec in (PREVIEW, FASTVIDEO)}


def backend_spec(name: str) -> BackendSpec:
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}") from None
