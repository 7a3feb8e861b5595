"""What a backend is given and what it must provide."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from ..spec.fields import FIELDS, Group, JobParams
from ..spec.rules import EFFECTIVE_DEFAULTS


class StopRequested(Exception):
    """Raised by `Reporter.check_stop` when the user asked the job to stop."""


# The LOAD fields beyond the two ModelConfig names itself: FastVideo's memory options, in spec order.
_OWN = ("model_id", "num_gpus")
OPTION_FIELDS: Final = tuple(f for f in FIELDS if f.group is Group.LOAD and f.name not in _OWN)
Options = tuple[tuple[str, Any], ...]


def _options(values: Mapping[str, Any]) -> Options:
    """(name, value) for every option field, in spec order; a bool field's value a bool
    (a stored flag may come back from SQLite as 0 or 1)."""
    return tuple((f.name, bool(values[f.name]) if f.base_type is bool else values[f.name])
                 for f in OPTION_FIELDS)


class LoadValues(Protocol):
    """A job's values as for_params reads them (and every option field, by name)."""

    @property
    def model_id(self) -> str: ...

    @property
    def num_gpus(self) -> int: ...


@dataclass(frozen=True)
class ModelConfig:
    """Everything that decides which loaded model a job can reuse: the model,
    its device count, FastVideo's workload (an image-to-video pipeline is another
    load of the same id) and the other LOAD fields of the spec, as options."""

    model_id: str
    num_gpus: int = 1
    workload_type: str = "t2v"
    # What a job runs with when it says nothing (spec.rules.EFFECTIVE_DEFAULTS: FastVideo's
    # defaults after its off_when rule; the job service stores what FastVideo will really use).
    options: Options = _options(EFFECTIVE_DEFAULTS)

    @classmethod
    def for_params(cls, params: LoadValues, workload_type: str = "t2v") -> ModelConfig:
        """The key of a job's values: JobParams, or anything holding the LOAD
        fields as attributes (a job row, a queued job)."""
        return cls(model_id=params.model_id, num_gpus=params.num_gpus,
                   workload_type=workload_type,
                   options=_options({f.name: getattr(params, f.name) for f in OPTION_FIELDS}))

    def option(self, name: str) -> Any:
        return dict(self.options)[name]

    def as_json(self) -> dict[str, Any]:
        """Flat, as /api/health's workers[].model has always shown it."""
        return {"model_id": self.model_id, "num_gpus": self.num_gpus, **dict(self.options),
                "workload_type": self.workload_type}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelConfig:
        """`as_json` undone; a missing or an unknown key is a ValueError (the two ends are one version)."""
        expected = {*_OWN, "workload_type", *(f.name for f in OPTION_FIELDS)}
        if set(data) != expected:
            raise ValueError(f"a model config with missing {sorted(expected - set(data))}, "
                             f"unknown {sorted(set(data) - expected)}")
        return cls(model_id=str(data["model_id"]), num_gpus=int(data["num_gpus"]),
                   workload_type=str(data["workload_type"]), options=_options(data))


@dataclass(frozen=True)
class GenerationRequest:
    """One video to make: the job's values (JobParams, read by name:
    request.params.<name>) and where its files are."""

    job_id: str
    params: JobParams
    output_path: Path  # where the finished MP4 must end up
    poster_path: Path  # where its JPEG poster must end up
    uploads: Mapping[str, Path] = field(default_factory=dict)  # each upload field's file (a PNG), by field
    # A `resolve` field's value as the server resolved it for this run (a LoRA's file), by field.
    resolved: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GenerationResult:
    video_path: Path
    poster_path: Path | None


class Reporter(Protocol):
    def phase(self, name: str) -> None: ...

    def step(self, index: int, total: int) -> None: ...

    def warn(self, text: str) -> None:
        """Something the user should know of this run that did not fail it (in its job's `warnings`)."""

    def check_stop(self) -> None:
        """Raise StopRequested if a stop was asked for; call it between steps."""


class Backend(Protocol):
    def load(self, config: ModelConfig, reporter: Reporter, first: GenerationRequest | None = None) -> None:
        """Load `config`'s model; `first`: the job the load is for, where the backend can load what that job
        needs with the model (FastVideo: a LoRA applied only at load)."""

    def generate(self, request: GenerationRequest, reporter: Reporter) -> GenerationResult: ...

    def unload(self) -> None: ...
