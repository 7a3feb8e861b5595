"""What is generic over the spec's fields: the off_when rule and the defaults
it yields, a job's one-line summary, the settings an MP4 keeps, and the
worker's wire form of JobParams. Each takes a fields tuple (FIELDS unless
given), so a test can run it over an extra field too."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Final, TypeVar, cast

from .fields import FIELDS, MODEL, REQUIRED, UPLOADS, FieldSpec, JobParams, Later, fields_of

P = TypeVar("P", bound=JobParams)
T = TypeVar("T")
Fields = Sequence[FieldSpec]

OFF_WHEN_MESSAGE: Final = ("has no effect while {master} is on (FastVideo turns it off); "
                           "set {master} to false to use it")


def fixed_defaults(fields: Fields = FIELDS) -> dict[str, Any]:
    """Every default that is not the model's or missing: plain values and later()'s, before any rule."""
    return dict(per_fields(fields, "fixed_defaults", lambda: {
        f.name: f.fixed_default for f in fields if f.default is not MODEL and f.default is not REQUIRED}))


_DERIVED: dict[tuple[int, str], tuple[Fields, Any]] = {}


def per_fields(fields: Fields, what: str, derive: Callable[[], T]) -> T:
    """`derive()`, worked out once per fields sequence (by identity: hashing the
    spec's FieldSpecs costs more than most derivations) and kept."""
    known = _DERIVED.get((id(fields), what))
    if known is not None and known[0] is fields:
        return cast(T, known[1])
    value = derive()
    if len(_DERIVED) >= 64:  # tests lay out other field sets; the server has one
        _DERIVED.clear()
    _DERIVED[(id(fields), what)] = (fields, value)
    return value


def apply_off_when(values: Mapping[str, Any], asked: Mapping[str, Any],
                   fields: Fields = FIELDS) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """`values` as FastVideo will run them: a field whose `off_when` field is on
    is off. A field the request `asked` to turn on then is refused, by name (a
    job stores what really runs, so what a job says is what ran)."""
    out = dict(values)
    errors: list[tuple[str, str]] = []
    for f in fields:
        if f.off_when and out.get(f.off_when):
            if asked.get(f.name):
                errors.append((f.name, OFF_WHEN_MESSAGE.format(master=f.off_when)))
            out[f.name] = False
    return out, errors


def resolve_later(asked: Mapping[str, Any], fields: Fields = FIELDS) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The later() fields' values for a request: what it asked (None: the
    default), then the off_when rule (what backends/offload.py describes)."""
    names = per_fields(fields, "later", lambda: [f.name for f in fields if isinstance(f.default, Later)])
    defaults = per_fields(fields, "fixed_defaults_view", lambda: fixed_defaults(fields))
    values = {name: defaults[name] if asked.get(name) is None else bool(asked[name]) for name in names}
    resolved, errors = apply_off_when(values, asked, fields)
    return {name: resolved[name] for name in names}, errors


def effective_defaults(fields: Fields = FIELDS) -> dict[str, Any]:
    """What a job runs with when it says nothing (the offloads after the off_when rule), but the model's."""
    return apply_off_when(fixed_defaults(fields), {}, fields)[0]


EFFECTIVE_DEFAULTS: Final = effective_defaults(FIELDS)
# The least GPU memory FastVideo can be asked to use (the out-of-memory retry): every offload on,
# and the rule switches the fields it overrides off again, silently.
_OFFLOAD_NAMES = tuple(f.name for f in FIELDS if f.offload or f.off_when)
MOST_OFFLOAD: Final = {name: value for name, value in apply_off_when(
    EFFECTIVE_DEFAULTS | {f.name: True for f in FIELDS if f.offload}, {})[0].items() if name in _OFFLOAD_NAMES}


# "{name}" is the value; "{name|noun}" the count with its noun ("33 frames"); the noun "device" is the
# model's device noun ("GPU", "CPU slot"). The web UI reads the same templates from /api/models.
_SLOT = re.compile(r"\{(\w+)(?:\|([\w ]+))?\}")


def shown(value: Any) -> str:
    """A value as the UI's `shown` (job-fields.js) writes it, so Python and the UI give one text: a number
    as JavaScript's String() (5.0 is "5"); a record its values joined by ":" ("style.safetensors:0.8",
    as the CLI takes it); a list its items joined by ", "."""
    if isinstance(value, (list, tuple)):
        return ", ".join(shown(item) for item in value)
    if isinstance(value, Mapping):
        return ":".join(shown(item) for item in value.values() if item is not None)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return "null" if value is None else str(value)


_TEMPLATES: dict[str, list[tuple[str, str | None, str | None]]] = {}


def _parsed(template: str) -> list[tuple[str, str | None, str | None]]:
    """(text before, slot name, noun) for each slot, then (the rest, None, None): parsed once."""
    parts = _TEMPLATES.get(template)
    if parts is None:
        parts, at = [], 0
        for found in _SLOT.finditer(template):
            parts.append((template[at:found.start()], found.group(1), found.group(2)))
            at = found.end()
        parts.append((template[at:], None, None))
        _TEMPLATES[template] = parts
    return parts


def fill(template: str, values: Mapping[str, Any], device_noun: str = "GPU") -> str:
    out: list[str] = []
    for text, name, noun in _parsed(template):
        out.append(text)
        if name is None:
            continue
        value = values[name]
        if noun is None:
            out.append(shown(value))
        else:
            noun = device_noun if noun == "device" else noun
            out.append(f"{shown(value)} {noun if value == 1 else noun + 's'}")
    return "".join(out)


def summarize(values: Mapping[str, Any] | JobParams, device_noun: str = "GPU", fields: Fields = FIELDS) -> str:
    """A job's settings in one line, as a card shows them:
    "512×512 · 33 frames @ 16 fps · 600 steps · cfg 5 · seed 4242"."""
    data = dataclasses.asdict(values) if isinstance(values, JobParams) else values
    parts = [fill(ui.summary or "", data, device_noun)
             for ui, name in _summary_parts(fields)
             if (ui.summary_unless is None or data[name] != ui.summary_unless) and not _empty_list(data[name])]
    return " · ".join(parts)


def _empty_list(value: Any) -> bool:
    """A list field with no items has no part in the line (as none in the UI's)."""
    return isinstance(value, (list, tuple)) and not value


def _summary_parts(fields: Fields) -> list[tuple[Any, str]]:
    """(Ui, name) of each field with a part in the line, in the line's order."""
    def derive() -> list[tuple[Any, str]]:
        shown_parts = [(ui, f.name) for f in fields if (ui := f.shown) is not None and ui.summary]
        return sorted(shown_parts, key=lambda part: part[0].summary_at)
    return per_fields(fields, "summary", derive)


def settings_of(params: JobParams, fields: Fields | None = None) -> dict[str, Any]:
    """What an MP4 keeps of its job, to say how it was made and to fill a form
    back in: model_id, then the generation fields; never a secret."""
    fields = fields_of(type(params)) if fields is None else fields
    return {f.name: getattr(params, f.name) for f in fields if f.restored}


class WireError(ValueError):
    """A wire dict that does not hold exactly the fields of the receiving JobParams."""


def to_wire(params: JobParams) -> dict[str, Any]:
    """JobParams as a worker message's JSON: every field but the secrets."""
    return {f.name: getattr(params, f.name) for f in fields_of(type(params)) if not f.secret}


def from_wire(data: Mapping[str, Any], cls: type[P] = JobParams) -> P:  # type: ignore[assignment]
    """`to_wire` undone; a secret is None. A missing or an unknown key is an
    error, not a silent default or drop: the two ends are one version."""
    fields = fields_of(cls)
    expected = {f.name for f in fields if not f.secret}
    missing, unknown = expected - set(data), set(data) - expected
    if missing or unknown:
        raise WireError(f"job params on the wire: missing {sorted(missing)}, unknown {sorted(unknown)}")
    values: dict[str, Any] = {f.name: None if f.secret else _listed(data[f.name], f) for f in fields}
    for f in fields:
        if not _fits(values[f.name], f):
            raise WireError(f"job params on the wire: {f.name} is {values[f.name]!r}, not {f.type}")
    return cls(**values)


def _listed(value: Any, f: FieldSpec) -> Any:
    """A list field's JSON array as the tuple JobParams holds."""
    return tuple(value) if f.is_list and isinstance(value, list) else value


def stored_defaults(fields: Fields = FIELDS) -> dict[str, Any]:
    """What a storage="json" field reads as where a stored job lacks it (a job stored before the
    field existed): what a job runs with when it says nothing; None for a model's default."""
    defaults = effective_defaults(fields)
    return {f.name: defaults.get(f.name) for f in fields if f.storage == "json"}


_LAYOUTS: dict[type, tuple[tuple[FieldSpec, ...], dict[str, Any]]] = {}


def _layout(cls: type) -> tuple[tuple[FieldSpec, ...], dict[str, Any]]:
    """A JobParams class's fields and its json fields' defaults, worked out once per class."""
    if cls not in _LAYOUTS:
        fields = fields_of(cls)
        _LAYOUTS[cls] = fields, stored_defaults(fields)
    return _LAYOUTS[cls]


def from_stored(value: Any, f: FieldSpec) -> Any:
    """A field's value as JSON or SQLite's json_extract gives it back, typed as JobParams holds it: a bool
    field's 1 is True, a list field's array a tuple."""
    if value is None:
        return value
    if f.base_type is bool:
        return bool(value)
    if f.is_list and isinstance(value, list):
        return tuple(value)
    return value


def params_of(job: Mapping[str, Any] | object, cls: type[P] = JobParams) -> P:  # type: ignore[assignment]
    """A stored job's per-job values, typed: from a mapping by key, else from
    an object (a job row) by attribute, reading every field's name off the spec.
    A storage="json" field is read from the JSON text under `params` (a key it
    lacks is the field's default) unless a mapping holds it by its own name."""
    fields, defaults = _layout(cls)
    mapping = isinstance(job, Mapping)

    def read(name: str) -> Any:
        return job[name] if mapping else getattr(job, name)  # type: ignore[index]

    values: dict[str, Any] = {}
    stored: dict[str, Any] | None = None
    for f in fields:
        if f.storage == "column" or (mapping and f.name in job):  # type: ignore[operator]
            values[f.name] = _listed(read(f.name), f)
            continue
        if stored is None:
            stored = json.loads(read("params") or "{}")
        values[f.name] = from_stored(stored.get(f.name, defaults[f.name]), f)
    return cls(**values)


def _fits(value: Any, f: FieldSpec) -> bool:
    if value is None:
        return f.nullable
    kind = f.base_type
    if f.is_list:
        names = {item.name for item in f.items}
        return isinstance(value, tuple) and all(isinstance(entry, Mapping) and set(entry) == names
                                                and all(_fits(entry[item.name], item) for item in f.items)
                                                for entry in value)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return not isinstance(kind, type) or isinstance(value, kind)


def uploads_of(params: JobParams) -> dict[str, str]:
    """The uploads a job names: its upload fields that are set, by field name."""
    return {f.name: value for f in UPLOADS if (value := getattr(params, f.name))}
