"""The pydantic models derived from the job spec: the create request and the
documented Job. Each is a function of a fields tuple, so FIELDS gives today's
models and a test can derive them for an extra field too."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, create_model

from ..jobs.estimates import SOURCES
from ..spec.fields import MODEL, FieldSpec, Later
from .strict import StrictBody

Fields = Sequence[FieldSpec]
REDACTED_NOTE = "Shown redacted: a password and query values read ***"


def _constraints(f: FieldSpec) -> dict[str, Any]:
    """The request's own bounds (the model's Range is checked after, with the model known)."""
    given = {"ge": f.minimum, "le": f.maximum, "multiple_of": f.multiple_of, "min_length": f.min_length,
             "max_length": f.max_length, "pattern": f.pattern}
    out = {key: value for key, value in given.items() if value is not None}
    if f.finite and f.base_type is float:
        out["allow_inf_nan"] = False
    return out


def _kind(f: FieldSpec) -> Any:
    """The request's type of one value: a list field's a tuple of its record's model; a field with
    choices a Literal of them (a 422 then lists them)."""
    if f.is_list:
        assert f.item is not None, f"list field {f.name} names no item record"
        return tuple[_record_model(f), ...]  # type: ignore[misc]
    if f.choices is not None:
        return Literal[f.choices]
    return f.base_type


_RECORDS: dict[str, type[StrictBody]] = {}


def _record_model(f: FieldSpec) -> type[StrictBody]:
    """A list field's item as a strict body of its own fields (one model per field, built once)."""
    assert f.item is not None
    if f.name not in _RECORDS or _RECORDS[f.name].__name__ != f.item.__name__:
        _RECORDS[f.name] = create_model(  # type: ignore[call-overload]
            f.item.__name__, __base__=StrictBody, __module__=__name__, __doc__=f.item.__doc__,
            **{item.name: _request_field(item) for item in f.items})
    return _RECORDS[f.name]


def _request_field(f: FieldSpec) -> Any:
    """Its annotated type: `T | None` defaulting to null where the model or a rule fills it in."""
    fill_later = f.default is MODEL or isinstance(f.default, Later)
    kind = _kind(f) | None if fill_later or f.nullable else _kind(f)
    info: Any = Field(description=f.help, **_constraints(f)) if f.required else Field(
        default=None if fill_later else f.default, description=f.help, **_constraints(f))
    if f.check is None:
        return Annotated[kind, info]
    check = f.check
    return Annotated[kind, info, AfterValidator(lambda value: value if value is None else check(value))]


def request_model(fields: Fields, name: str = "CreateJobRequest") -> type[StrictBody]:
    """The create body: one property per field, then `start` (an instruction to the create call, not a
    job field)."""
    definitions: dict[str, Any] = {f.name: _request_field(f) for f in fields}
    definitions["start"] = Annotated[bool, Field(default=False, description="queue it now (else it waits, pending)")]
    model: type[StrictBody] = create_model(  # type: ignore[call-overload]
        name, __base__=StrictBody, __module__=__name__,
        __doc__="A job to create: the job spec's per-job fields, plus `start`.\n\n"
                "Omitted generation parameters take the chosen model's defaults.",
        **definitions)
    return model


class JobRecord(BaseModel):
    """A job's record, beside its spec fields: what the server keeps of it and derives for it.
    Hand-written once (it is the record, not a per-job field)."""

    id: str = Field(description="a UUID")
    status: Literal["pending", "queued", "running", "completed", "failed", "stopped"]
    created_at: float = Field(description="Unix time")
    started_at: float | None
    finished_at: float | None
    error: str | None = Field(description="why it failed or stopped, in one line")
    output_path: str | None = Field(description="the video's absolute path on the server (a seed field)")
    log_file_path: str | None = Field(description="the log's absolute path on the server (a seed field)")
    progress: float = Field(description="0 to 100")
    progress_msg: str
    phase: str
    queued_at: float | None = Field(description="when it was last queued: a start, or a return to the queue "
                                    "(a graceful shutdown, a lost machine, an out-of-memory retry)")
    queue_position: int | None = Field(description="1-based place in its device pool's queue")
    devices: list[str]
    step: int | None
    total_steps: int | None
    eta_seconds: float | None
    attempts: int = Field(description="runs so far, an out-of-memory retry included")
    load_seconds: float | None = Field(description="how long its latest run spent loading the model; null: the "
                                       "worker already held it, or it has not run")
    estimate_seconds: float | None = Field(description="the run time the scheduler expected of its latest run, "
                                           "model load included, erring long (it plans backfilling with it; a "
                                           "prior, from the model's size alone, may err either way); null: no "
                                           "estimate, or it has not run")
    estimate_source: Literal[SOURCES] | None = Field(  # type: ignore[valid-type]
        description="where that estimate came from: runs of its model at its very shape; its model's other "
                    "runs, scaled (by their own seconds per step, else by pixels x frames x steps) and by GPU "
                    "count; another model's runs, scaled too and by parameter count; or a prior from its "
                    "model's parameter count")
    held: bool = Field(description="queued but held: it keeps its place and does not start until released")
    remixed_from: str | None = Field(description="the job this one remixes (POST /v1/videos/{id}/remix)")
    sweep_id: str | None = Field(description="the sweep that made it (GET /api/sweeps/{id} gives its coords)")
    starred: bool = Field(description="a favourite: POST and DELETE /api/jobs/{id}/star set it")
    warnings: list[str] = Field(description="what its latest run warned about, one line each (a LoRA that "
                                "matched no layer of the model, say); also in its log")
    actions: list[str] = Field(description="what the user may do now: start, stop, delete")
    video_url: str | None
    poster_url: str | None
    log_url: str


def _job_properties(f: FieldSpec) -> dict[str, Any]:
    """A spec field as the job JSON has it: required, of its stored type; an upload adds `<name>_url`."""
    description = f"{f.help}. {REDACTED_NOTE}" if f.secret else f.help
    out: dict[str, Any] = {f.name: Annotated[f.type, Field(description=description)]}
    if f.upload:
        label = f.shown.label.lower() if f.shown else f.name
        out[f"{f.name}_url"] = Annotated[str | None, Field(description=f"the {label}, as stored")]
    return out


def job_model(fields: Fields, name: str = "Job") -> type[BaseModel]:
    """A job as GET /api/jobs/{id} returns it (documentation: routes return job_json's dict)."""
    definitions: dict[str, Any] = {}
    for f in fields:
        definitions.update(_job_properties(f))
    model: type[BaseModel] = create_model(  # type: ignore[call-overload]
        name, __base__=JobRecord, __module__=__name__,
        __doc__="A job as GET /api/jobs/{id} returns it (documentation: routes return job_json's dict).",
        **definitions)
    return model
