"""A job's parameters resolved from a create request: the model's defaults for
what was omitted, memory offload as FastVideo will really run it, and every
limit of the model checked, so a job that could never run is refused at once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..backends.offload import resolve_offload
from ..spec.fields import FIELDS, Group
from .catalogue import ModelSpec, check_params

GENERATION_FIELDS = tuple(f.name for f in FIELDS if f.group is Group.GENERATION)
OFFLOAD_FIELDS = tuple(f.name for f in FIELDS if f.offload or f.off_when)

# What a create request may carry beyond the generation parameters and offload.
JOB_OPTIONS = ("num_gpus", "priority", "retry_on_oom", "webhook_url", "image")
# Every field a create request can set that a job keeps (a remix copies them).
STORED_FIELDS = (*GENERATION_FIELDS, *OFFLOAD_FIELDS, "num_gpus", "priority", "retry_on_oom", "image")


class InvalidParams(Exception):
    """(field, message) for each rule broken: a 422 naming each field."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors))
        self.errors = errors


def _default(spec: ModelSpec, name: str) -> Any:
    if name == "negative_prompt":
        return spec.default_negative_prompt
    return spec.defaults.get(name)


def resolve_params(spec: ModelSpec, asked: Mapping[str, Any], device_count: int | None,
                   elastic: bool = False) -> dict[str, Any]:
    """The job's stored parameters, or InvalidParams. `device_count`: the most
    devices a job may ask for (None: not known now); `elastic`: on a Ray cluster."""
    params = {name: asked[name] if asked.get(name) is not None else _default(spec, name)
              for name in GENERATION_FIELDS}
    params.update({name: asked[name] for name in JOB_OPTIONS if name in asked})
    offload, errors = resolve_offload({name: asked.get(name) for name in OFFLOAD_FIELDS})
    params.update(offload)
    problems = [(problem.field, problem.message) for problem in check_params(spec, params, device_count, elastic)]
    if problems or errors:
        raise InvalidParams(problems + errors)
    return params
