"""What /api/models serves of the spec for one model: its `fields` (what the
dialog, the details and the card are built from) and the legacy keys
(`defaults`, `limits`, `options`) derived from the same entries.

Pure: it takes the model's facts (its defaults and limits as data), not the
catalogue, so the route, the CLI and a test can all call it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from .fields import FIELDS, MODEL, FieldSpec, Group
from .rules import effective_defaults

Fields = Sequence[FieldSpec]
_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}
_WIDGETS = {bool: "check", int: "number", float: "number", str: "text"}


@dataclass(frozen=True)
class ModelFacts:
    """A model as the spec sees it (a ModelTraits, plus its data)."""

    id: str
    type: str
    backend: str
    device_kind: str
    image_input: str  # "none", "optional" or "required"
    oom_retry: bool  # its backend requeues a job that ran out of memory
    defaults: Mapping[str, Any]  # its own defaults by field name (every MODEL-defaulted field)
    limits: Mapping[str, Mapping[str, Any]]  # its Ranges as JSON (min, max, multiple_of, form) by field name
    features: frozenset[str] = frozenset()  # what its backend found it can do ("vsa")


@dataclass(frozen=True)
class Capacity:
    """The most devices a job of the model may ask for (None: not known now), and where that holds."""

    devices: int | None
    scope: Literal["server", "ray node"] = "server"


def default_for(f: FieldSpec, model: ModelFacts, effective: Mapping[str, Any]) -> Any:
    """What the field is for this model when a job says nothing (None where it is required);
    `effective`: the fields' effective_defaults."""
    if f.default is MODEL:
        return model.defaults.get(f.name)
    return effective.get(f.name)


def _bounds(f: FieldSpec, model: ModelFacts, capacity: Capacity) -> dict[str, Any]:
    """The fixed bound and the model's range merged, the tighter winning."""
    rule = model.limits.get(f.name, {}) if f.model_limits else {}
    lows = [value for value in (f.minimum, rule.get("min")) if value is not None]
    highs = [value for value in (f.maximum, rule.get("max")) if value is not None]
    if f.cost == "devices" and capacity.devices is not None:
        highs.append(capacity.devices)
    multiples = [value for value in (f.multiple_of, rule.get("multiple_of")) if value]
    return {"minimum": max(lows) if lows else None, "maximum": min(highs) if highs else None,
            "multiple_of": math.lcm(*multiples) if multiples else None, "form": rule.get("form")}


def _ui(f: FieldSpec) -> dict[str, Any] | None:
    ui = f.shown
    if ui is None:
        return None
    out = asdict(ui)
    if out["widget"] == "auto":
        out["widget"] = "select" if f.choices is not None else _WIDGETS.get(f.base_type, "text")
    return out


def _json_type(f: FieldSpec) -> str:
    return "array" if f.is_list else _JSON_TYPES.get(f.base_type, "string")


def _item_json(f: FieldSpec) -> dict[str, Any]:
    """One field of a list field's record: its type, default and bounds (a record has no model limits)."""
    return {"name": f.name, "type": _json_type(f), "default": f.fixed_default, "required": f.required,
            "minimum": f.minimum, "maximum": f.maximum, "min_length": f.min_length, "max_length": f.max_length,
            "pattern": f.pattern, "help": f.help}


def fields_json(model: ModelFacts, capacity: Capacity, fields: Fields = FIELDS) -> list[dict[str, Any]]:
    """The fields that apply to `model`, in spec order, with its defaults and bounds."""
    out = []
    effective = effective_defaults(fields)
    for f in fields:
        if not f.applies.to(model):
            continue
        entry: dict[str, Any] = {
            "name": f.name, "type": _json_type(f), "nullable": f.nullable,
            "default": default_for(f, model, effective), "required": f.required or f.applies.required_for(model),
            **_bounds(f, model, capacity),
            "min_length": f.min_length, "max_length": f.max_length, "pattern": f.pattern,
            "choices": list(f.choices) if f.choices is not None else None,
            "group": f.group.value, "help": f.help, "upload": f.upload, "off_when": f.off_when,
            "restore": f.restored, "secret": f.secret, "ui": _ui(f),
        }
        if f.cost == "devices":
            entry["scope"] = capacity.scope
        if f.is_list:
            entry["items"] = [_item_json(item) for item in f.items]
        out.append(entry)
    return out


def legacy_keys(model: ModelFacts, capacity: Capacity, fields: Fields = FIELDS) -> dict[str, Any]:
    """/api/models' `defaults`, `limits` and `options`, as today's clients read them."""
    effective = effective_defaults(fields)
    defaults = {f.name: default_for(f, model, effective) for f in fields
                if f.group is not Group.OPTION and not f.required}
    limits: dict[str, Any] = {f.name: dict(model.limits[f.name]) for f in fields
                              if f.model_limits and f.name in model.limits}
    for f in fields:
        if f.cost == "devices":
            limits[f.name] = {"min": f.minimum, "max": capacity.devices, "scope": capacity.scope}
    # The memory settings that mean something to its backend (the offloads and what they switch off), as
    # older clients drew them as checkboxes; a later load option (torch.compile) is in `fields` only.
    options = [f.name for f in fields if f.group is Group.LOAD and f.base_type is bool and (f.offload or f.off_when)
               and f.applies.to(model)]
    return {"defaults": defaults, "limits": limits, "options": options}
