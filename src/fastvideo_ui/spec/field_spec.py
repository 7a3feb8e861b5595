"""How a per-job field is described: its FieldSpec (type, default, limits,
group, help, and what each derivation needs to know of it), the markers a
default may be, which models it applies to, and its CLI flag, OpenAI name and
UI. The fields themselves are declared in spec/fields.py, each as one param()
on JobParams.

Stdlib only, as the spec is (tests/test_spec.py checks).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, Final, Literal, Protocol, Union

SPEC: Final = "fastvideo_ui.spec"  # the dataclass field's metadata key


class Group(str, Enum):  # py3.10: no StrEnum
    GENERATION = "generation"  # per run; a loaded model runs it as it is
    LOAD = "load"  # in the worker's key: another value means another load
    OPTION = "option"  # about the job, not the video: priority, retry, webhook, image


class _Marker:
    """A default that is not a value (MODEL, REQUIRED), or "derive it" (DERIVED)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


MODEL: Final = _Marker("MODEL")  # the chosen model's: ModelSpec.defaults[name], limits ModelSpec.limits[name]
REQUIRED: Final = _Marker("REQUIRED")
DERIVED: Final = _Marker("DERIVED")


@dataclass(frozen=True)
class Later:
    """A default the request shows as null and resolution fills in, so a rule
    (`off_when`) can tell a value the job asked for from one it defaulted to."""

    value: Any


def later(value: Any) -> Later:
    return Later(value)


class ModelTraits(Protocol):
    """What `Applies` reads of a model (no catalogue import: the spec is below it)."""

    @property
    def id(self) -> str: ...

    @property
    def type(self) -> str: ...

    @property
    def backend(self) -> str: ...

    @property
    def image_input(self) -> str: ...  # "none", "optional" or "required"

    @property
    def oom_retry(self) -> bool: ...  # its backend requeues a job that ran out of memory

    @property
    def features(self) -> frozenset[str]: ...  # what its backend found it can do ("vsa")


@dataclass(frozen=True)
class Applies:
    """Which models a field means something to, and what a value sent to
    another model gets: refused ("refuse"), or stored and ignored ("keep",
    today's lenient behaviour for the offloads and retry_on_oom)."""

    backends: frozenset[str] | None = None
    oom_retry: bool | None = None
    image_input: bool | None = None  # True: only models that take an image
    required_when: str | None = None  # the model's image_input that makes the field required
    feature: str | None = None  # a model feature the field needs (ModelTraits.features: "vsa")
    otherwise: Literal["refuse", "keep"] = "refuse"
    refusal: str = "{field} does not apply to {model}"
    required_message: str = "{model} needs {field}"

    def to(self, model: ModelTraits) -> bool:
        if self.backends is not None and model.backend not in self.backends:
            return False
        if self.oom_retry is not None and model.oom_retry != self.oom_retry:
            return False
        if self.feature is not None and self.feature not in model.features:
            return False
        return self.image_input is None or (model.image_input != "none") == self.image_input

    def required_for(self, model: ModelTraits) -> bool:
        return self.required_when is not None and model.image_input == self.required_when

    def refused(self, field: str, model: ModelTraits) -> str:
        return self.refusal.format(field=field, model=model.id, type=model.type)

    def missing(self, field: str, model: ModelTraits) -> str:
        return self.required_message.format(field=field, model=model.id, type=model.type)


EVERYWHERE: Final = Applies()


@dataclass(frozen=True)
class OpenAi:
    """A field's name in OpenAI's videos API (POST /v1/videos), where it has
    one of its own, and how that value becomes the field's (api/video_shape.py):
    "size": "WIDTHxHEIGHT" for the `sets` fields, each rounded to the model's
    multiple; "seconds": a duration at the job's fps, as the nearest count the
    model takes; "file": a multipart file, stored as an upload (its id)."""

    name: str
    kind: Literal["size", "seconds", "file"]
    sets: tuple[str, ...] = ()  # "size": the fields it sets, in its order


@dataclass(frozen=True)
class Cli:
    """A field's `submit` flag. A flag without a leading "-" is positional;
    `sets`: one flag for several fields (--size), its value a dict of them."""

    flag: str
    short: str | None = None
    metavar: str | None = None
    help: str | None = None  # else the field's own help
    parse: Callable[[str], Any] | None = None  # else the field's type
    sets: tuple[str, ...] = ()
    repeat: bool = False  # a list field: the flag is given once per item, each parsed by `parse`


Widget = Literal["auto", "text", "textarea", "number", "check", "select", "seed", "devices", "upload", "model",
                 "loras"]


@dataclass(frozen=True)
class Ui:
    """How the web UI shows a field: the New job dialog, a job's details, a card's line."""

    label: str
    widget: Widget = "auto"
    section: Literal["top", "main", "advanced"] = "main"
    step: float | None = None
    hint: str | None = None  # else the limits in words ("": none)
    detail: str | None = "{value}"  # its row in the details; None: no row of its own
    detail_label: str | None = None  # else the label
    group: str | None = None  # booleans on one row ("Offload: ...")
    short: str | None = None  # its word on that row
    summary: str | None = None  # its part of a card's line: "{name}", "{name|noun}" ("device": the model's)
    summary_at: int = 0  # where that part goes in the line (the line's order is not the spec's)
    summary_unless: Any = None  # a value that leaves the part out (num_gpus 1)
    tile: bool = False  # its summary part is on a gallery tile's short line too


@dataclass(frozen=True)
class FieldSpec:
    """One per-job field: its rules, and what each derivation needs to know of it."""

    group: Group
    help: str  # one line: OpenAPI description, CLI help, the dialog's title text
    default: Any = REQUIRED  # a value, REQUIRED, MODEL, or later(v)
    minimum: float | None = None
    maximum: float | None = None
    multiple_of: int | None = None
    model_limits: bool = False  # the model's Range applies too (jobs/params.py checks it)
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    finite: bool = True  # a float field refuses NaN and the infinities (nothing a job means by them)
    choices: tuple[Any, ...] | None = None
    check: Callable[[Any], Any] | None = None  # an AfterValidator of the request model
    server_check: str | None = None  # one only the runtime can make: "webhook_target", "upload"
    applies: Applies = EVERYWHERE
    off_when: str | None = None  # FastVideo switches it off while that field is on (rules.apply_off_when)
    offload: bool = False  # turned on by the out-of-memory retry
    fastvideo: Literal["sample", "load"] | None = None  # passed by name to generate_video / from_pretrained
    fastvideo_name: str | None = None  # FastVideo's own spelling, where it is not the field's (VSA_sparsity)
    env: str | None = None  # a load field FastVideo reads from the worker's environment: set there, not passed
    # A rule over the job's other values, once resolved, and its model: why this value cannot run with
    # them, or None. Only a value other than the field's default is checked (the default always runs).
    rule: Callable[[Any, Mapping[str, Any], ModelTraits], str | None] | None = None
    item: type | None = None  # a list field's record: a dataclass of param()s (fields_of reads it)
    # The server resolves the value for the worker before each run (a LoRA's name to its file, fetching a
    # Hub one first): the resolver's name (jobs/inputs.py). The worker gets it beside the job's values.
    resolve: str | None = None
    # What duration estimates scale with: the work (the product of "work" and "steps" fields), the
    # denoising steps among them (a run's seconds per step scale by it alone), the devices.
    cost: Literal["work", "steps", "devices"] | None = None
    text: bool = False  # counted toward a listing chunk's characters
    in_settings: bool | None = None  # kept in the MP4 and restored (None: a GENERATION field is)
    secret: bool = False  # redacted in the job JSON; never sent to a worker, a file or a log
    # Names an upload: "<name>_url" in the JSON; the worker gets the file's path, FastVideo as "<name>_path".
    upload: bool = False
    storage: Literal["column", "json"] = "json"  # "column" only with a migration that adds it
    sql_length: int | None = None
    # A column's value where a row was stored without one (its migration's server default); also the
    # default of an insert that leaves it out. None: every insert sets it.
    server_default: Any = None
    cli: Cli | None | _Marker = DERIVED  # DERIVED: "--<name-with-dashes>"; None: no flag
    openai: OpenAi | None = None  # its own name in OpenAI's videos API, if it has one
    ui: Ui | None | _Marker = DERIVED  # DERIVED: label from the name, widget from the type; None: hidden
    name: str = ""  # filled in from the JobParams field
    type: Any = None

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def nullable(self) -> bool:
        """The stored value may be None (`str | None`)."""
        return type(None) in typing.get_args(self.type)

    @functools.cached_property  # read per stored value (a listing's rows): worked out once
    def base_type(self) -> Any:
        """The type without None: str for `str | None`."""
        if isinstance(self.type, types.UnionType) or typing.get_origin(self.type) is Union:
            kinds = [kind for kind in typing.get_args(self.type) if kind is not type(None)]
            return kinds[0] if len(kinds) == 1 else self.type
        return self.type

    @functools.cached_property
    def is_list(self) -> bool:
        """A list field (its `item` records): a tuple in JobParams, a JSON array outside."""
        return typing.get_origin(self.base_type) in (tuple, list)

    @functools.cached_property
    def items(self) -> tuple[FieldSpec, ...]:
        """A list field's record fields (none for any other field)."""
        return fields_of(self.item) if self.item is not None else ()

    @functools.cached_property  # read for every field of every create
    def fixed_default(self) -> Any:
        """The default before any rule (later's value); None for MODEL and REQUIRED."""
        if isinstance(self.default, Later):
            return self.default.value
        return None if isinstance(self.default, _Marker) else self.default

    @property
    def restored(self) -> bool:
        """Kept in an MP4's settings (and filled back in from one); never a secret."""
        kept = self.group is Group.GENERATION if self.in_settings is None else self.in_settings
        return kept and not self.secret

    @property
    def flag(self) -> Cli | None:
        if self.cli is DERIVED:  # a bool that is on by default is turned off: --no-<name>
            off = self.base_type is bool and self.fixed_default is True
            return Cli(("--no-" if off else "--") + self.name.replace("_", "-"))
        return self.cli if isinstance(self.cli, Cli) else None

    @functools.cached_property  # the same Ui object each time, built once
    def shown(self) -> Ui | None:
        if self.ui is DERIVED:
            return Ui(self.name.replace("_", " ").capitalize())
        return self.ui if isinstance(self.ui, Ui) else None


def param(default: Any = REQUIRED, **spec: Any) -> Any:
    """A JobParams field: its FieldSpec in the metadata. A plain default is the
    dataclass's too; MODEL, REQUIRED and later() ones are not (resolution sets them)."""
    meta = {SPEC: FieldSpec(default=default, **spec)}
    if isinstance(default, (_Marker, Later)):
        return dataclasses.field(metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def fields_of(cls: type) -> tuple[FieldSpec, ...]:
    """The FieldSpecs of a JobParams-like dataclass, in its order, each with its name and type (worked
    out once per class: resolving the type hints cost a worker a millisecond of every job)."""
    found = _FIELDS_OF.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        found = _FIELDS_OF[cls] = tuple(dataclasses.replace(f.metadata[SPEC], name=f.name, type=hints[f.name])
                                        for f in dataclasses.fields(cls))
    return found


_FIELDS_OF: dict[type, tuple[FieldSpec, ...]] = {}
