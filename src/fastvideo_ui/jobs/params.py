"""A job's parameters resolved from a create request: the model's defaults for
what was omitted, memory offload as FastVideo will really run it, and every
limit of the model checked, so a job that could never run is refused at once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..spec.fields import FIELDS, MODEL, REQUIRED, FieldSpec, Later
from ..spec.rules import resolve_later
from .catalogue import ModelSpec, check_params


class InvalidParams(Exception):
    """(field, message) for each rule broken: a 422 naming each field."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors))
        self.errors = errors


_RULED = tuple(f for f in FIELDS if f.rule is not None)
_ARRIVING: Any = object()  # stands in for a value that comes with the request (not its default)


def _refused(f: FieldSpec, spec: ModelSpec, value: Any) -> bool:
    """A value sent for a field that means nothing to the model, where the spec says to refuse it. Its own
    default is no request (a remix copies every field of its source), so only another value is refused."""
    return (value is not None and value != f.fixed_default and f.applies.otherwise == "refuse"
            and not f.applies.to(spec))


def resolve_params(spec: ModelSpec, asked: Mapping[str, Any], device_count: int | None,
                   elastic: bool = False, arriving: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Every spec field's stored value (model_id as asked: `spec` is its model), or
    InvalidParams. A field asked as null or not at all takes its default: the
    model's, a fixed one, or the later() ones' after FastVideo's off_when rule.
    `device_count`: the most devices a job may ask for (None: not known now);
    `elastic`: on a Ray cluster; `arriving`: upload fields whose file comes
    with the request, checked as given (the caller stores it and sets the id)."""
    later, errors = resolve_later(asked)
    # What the chosen model refuses or requires outright comes first: it is about the model, and a
    # limit of a field may read differently once the model is right.
    model_errors: list[tuple[str, str]] = []
    params: dict[str, Any] = {}
    for f in FIELDS:
        value = asked.get(f.name)
        if _refused(f, spec, _ARRIVING if f.name in arriving else value):
            model_errors.append((f.name, f.applies.refused(f.name, spec)))
            value = None
        elif value is None and f.name not in arriving and f.applies.required_for(spec):
            model_errors.append((f.name, f.applies.missing(f.name, spec)))
        if isinstance(f.default, Later):
            value = later[f.name]
        elif value is None and f.default is MODEL:
            value = spec.defaults.get(f.name)
        elif value is None and f.default is not REQUIRED:
            value = f.default
        params[f.name] = value
    problems = [(problem.field, problem.message) for problem in check_params(spec, params, device_count, elastic)]
    problems += [(f.name, problem) for f in _RULED
                 if params[f.name] != f.fixed_default and params[f.name] is not None
                 and (problem := f.rule(params[f.name], params, spec)) is not None]  # type: ignore[misc]
    if model_errors or problems or errors:
        raise InvalidParams(model_errors + problems + errors)
    return params
