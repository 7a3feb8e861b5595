"""A sweep's jobs worked out before any is made: the cartesian product of its
axes over the base create body (the first axis outermost), every combination
checked as a create body would be, so a sweep with one bad value makes nothing.

A broken rule is told where it belongs: on the axis whose value breaks it
(`guidance_scale=99: must be at most 30`), on the base where every
combination breaks it, or on the combination where only values together do."""

from __future__ import annotations

import difflib
import itertools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..spec.axes import MAX_SWEEP_JOBS, Axis, Path, axis, axis_names, with_value
from ..spec.fields import BY_NAME
from .catalogue import ModelSpec
from .params import InvalidParams

SHOWN_CHARS = 60  # of a value or an axis name in a message or a loc: a prompt is cut to it
MAX_ERRORS = 20  # problems a 422 names; past them it says how many more


class InvalidSweep(Exception):
    """Where (a loc below the body: ("axes", "seed")) and which rule, for each problem: a 422. At most
    MAX_ERRORS of them, then one saying how many more; each name in a loc cut to SHOWN_CHARS."""

    def __init__(self, errors: list[tuple[Path, str]]) -> None:
        # A name or value may hold a lone surrogate (JSON can say "\ud800"; UTF-8 cannot carry it back).
        kept = [(tuple(_printable(cut(part)) if isinstance(part, str) else part for part in loc), _printable(message))
                for loc, message in errors[:MAX_ERRORS]]
        if len(errors) > MAX_ERRORS:
            more = len(errors) - MAX_ERRORS
            kept.append(((), f"and {more} more problem{'s' if more != 1 else ''}"))
        super().__init__("; ".join(f"{'.'.join(map(str, loc))}: {message}" for loc, message in kept))
        self.errors = kept


def cut(text: str, chars: int = SHOWN_CHARS) -> str:
    """The text, or its start and an ellipsis where it is longer than `chars`."""
    return text if len(text) <= chars else text[:chars - 1] + "…"


def _printable(text: str) -> str:
    """The text with each character UTF-8 cannot encode (a lone surrogate) as its escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class BodyErrors(Exception):
    """What a create body's own check (the request model) found: (loc within the body, message)."""

    def __init__(self, errors: list[tuple[Path, str]]) -> None:
        super().__init__("; ".join(message for _, message in errors))
        self.errors = errors


# The request model's check of a create body: the body as it validates it (values in their stored
# form: 3 as 3.0, a library LoRA with its ending), or BodyErrors. Given by the API, which owns it.
BodyCheck = Callable[[Mapping[str, Any]], dict[str, Any]]
# JobService.checked: the model and the resolved fields, or InvalidParams.
Checked = Callable[[Mapping[str, Any]], tuple[ModelSpec, dict[str, Any]]]


@dataclass(frozen=True)
class PlannedJob:
    coords: dict[str, Any]  # axis -> its value in this job
    spec: ModelSpec
    params: dict[str, Any]


@dataclass(frozen=True)
class Plan:
    base: dict[str, Any]  # the base as given, less what an axis sets (_stored_base)
    axes: list[tuple[str, list[Any]]]  # in the order given, each value as its jobs store it
    jobs: list[PlannedJob]  # in product order


def shown(value: Any) -> str:
    """A value as a message names it: as JSON, cut to SHOWN_CHARS."""
    return cut(json.dumps(value, ensure_ascii=False, default=str))


def _unknown(name: str) -> str:
    # A name far longer than any field's is like none of them (and difflib's time grows with it).
    close = difflib.get_close_matches(name, list(BY_NAME), n=1, cutoff=0.6) if len(name) <= SHOWN_CHARS else []
    return f"unknown axis; did you mean {close[0]}?" if close else f"unknown axis; an axis is {axis_names()}"


_MANY = 10 ** 15  # past this a count is "more than" it (thousands of axes multiply to thousands of digits)


def _job_count(given: Mapping[str, Any]) -> int:
    """How many jobs the axes' values make (an axis that is no list of values counts as one), up to
    just past _MANY."""
    count = 1
    for values in given.values():
        if isinstance(values, list) and values:
            count *= len(values)
            if count > _MANY:
                break
    return count


def _axes(base: Mapping[str, Any], given: Mapping[str, Any]) -> list[tuple[Axis, list[Any]]]:
    """The axes named and their values, or InvalidSweep for every one that cannot be one."""
    # First, before any work for each value: too many jobs (one axis of 86,000 values is refused here,
    # not checked value by value).
    count = _job_count(given)
    if count > MAX_SWEEP_JOBS:
        said = f"more than {_MANY:,}" if count > _MANY else str(count)
        raise InvalidSweep([(("axes",), f"this sweep makes {said} jobs; at most {MAX_SWEEP_JOBS}")])
    errors: list[tuple[Path, str]] = []
    if "start" in base:
        errors.append((("base", "start"), 'goes beside base, not in it: {"base": {...}, "axes": {...}, '
                                          '"start": true}'))
    if not given:
        errors.append((("axes",), "give at least one axis, such as {\"seed\": [1, 2, 3]}"))
    found: list[tuple[Axis, list[Any]]] = []
    for name, values in given.items():
        at = axis(name)
        if at is None:
            # Past the problems a 422 shows, only counted (InvalidSweep says how many more): no look for
            # a close name for each of 10,000 unknown axes.
            errors.append((("axes", name), _unknown(name) if len(errors) < MAX_ERRORS else "unknown axis"))
            continue
        if not isinstance(values, list) or not values:
            errors.append((("axes", name), "give a list of at least one value"))
            continue
        seen: set[str] = set()
        for value in values:
            key = json.dumps(value, sort_keys=True, default=str)
            if key in seen:  # the first one given twice: the axis's only such problem
                errors.append((("axes", name), f"{name}={shown(value)} is given twice: give each value once"))
                break
            seen.add(key)
        clash = next((other.name for other, _ in found
                      if other.path[:len(at.path)] == at.path or at.path[:len(other.path)] == other.path), None)
        if clash is not None:
            errors.append((("axes", name), f"varies what axis {clash} varies: give its values on one axis"))
        elif at.item and with_value(base, at, values[0]) is None:
            field, index, inner = at.path
            errors.append((("axes", name), f"varies the {inner} of base.{field}[{index}], which the base does "
                                           f"not have: add it to base.{field}"))
        found.append((at, values))
    if errors:
        raise InvalidSweep(errors)
    return found


def plan(base: Mapping[str, Any], given: Mapping[str, Any], body_check: BodyCheck, checked: Checked) -> Plan:
    """Every job of the sweep, checked (InvalidSweep names each problem); nothing is made here."""
    axes = _axes(base, given)  # at most MAX_SWEEP_JOBS combinations
    combos = list(itertools.product(*(values for _, values in axes)))
    failed: dict[tuple[Path, str], set[int]] = {}  # each problem, and the combinations that have it
    jobs: list[PlannedJob] = []
    stored: list[dict[str, Any]] = []  # each combination's axis values as its job stores them
    for number, combo in enumerate(combos):
        body = dict(base)
        for (at, _), value in zip(axes, combo, strict=True):
            changed = with_value(body, at, value)
            assert changed is not None  # _axes made sure the base has every item an axis sets
            body = changed
        try:
            valid = body_check(body)
            spec, params = checked(valid)
        except BodyErrors as exc:
            problems = exc.errors
        except InvalidParams as exc:
            problems = [((field,), message) for field, message in exc.errors]
        else:
            values = {at.name: _at(valid, at.path) for at, _ in axes}
            stored.append(values)
            jobs.append(PlannedJob(values, spec, params))
            continue
        for problem in problems:
            failed.setdefault((tuple(problem[0]), problem[1]), set()).add(number)
    if failed:
        raise InvalidSweep(_attributed(failed, axes, combos))
    return Plan(_stored_base(base, axes), _stored_axes(axes, stored), jobs)


def _stored_base(base: Mapping[str, Any], axes: Sequence[tuple[Axis, list[Any]]]) -> dict[str, Any]:
    """The base to keep: as given, less each field an axis sets (`seed`, a LoRA's `strength`). No job
    has that value, so nothing checked it: it could be anything JSON says (NaN, 250 KB of junk). The
    rest every job was checked with; InvalidSweep all the same if JSON cannot store it."""
    out = dict(base)
    for at, _ in axes:
        if not at.item:
            out.pop(str(at.path[0]), None)
            continue
        name, index, inner = at.path
        items = list(out[str(name)])  # _axes made sure the base has the item
        items[int(index)] = {key: value for key, value in items[int(index)].items() if key != inner}
        out[str(name)] = items
    try:
        json.dumps(out, allow_nan=False)
    except (TypeError, ValueError):
        raise InvalidSweep([(("base",), "holds a value JSON cannot store (NaN or infinity)")]) from None
    return out


def _at(body: Mapping[str, Any], path: Path) -> Any:
    value: Any = body
    for part in path:
        value = value[part]
    return value


def _stored_axes(axes: Sequence[tuple[Axis, list[Any]]], stored: list[dict[str, Any]]) -> list[tuple[str, list[Any]]]:
    """Each axis's values as its jobs store them, in the order given; two values that are one once
    stored (1 and 1.0, `ink` and `ink.safetensors`) would make the same job twice: InvalidSweep."""
    out: list[tuple[str, list[Any]]] = []
    errors: list[tuple[Path, str]] = []
    for index, (at, given) in enumerate(axes):
        # Combination 0 holds every axis's first value; the one where only this axis moved on
        # holds each other value of it (the product's stride for this axis).
        stride = math.prod(len(values) for _, values in axes[index + 1:])
        values = [stored[step * stride][at.name] for step in range(len(given))]
        keys = [json.dumps(value, sort_keys=True, default=str) for value in values]
        for step, key in enumerate(keys):
            if key in keys[:step]:  # the first such pair: the axis's only such problem
                first = keys.index(key)
                errors.append((("axes", at.name), f"{at.name}={shown(given[step])} is {at.name}="
                                                  f"{shown(given[first])} once stored: give each value once"))
                break
        out.append((at.name, values))
    if errors:
        raise InvalidSweep(errors)
    return out


def _attributed(failed: Mapping[tuple[Path, str], set[int]], axes: Sequence[tuple[Axis, list[Any]]],
                combos: Sequence[tuple[Any, ...]]) -> list[tuple[Path, str]]:
    """Each problem where it belongs: on the axis whose values break it, on the base where every
    combination does, else on the combinations that do."""
    out: list[tuple[Path, str]] = []
    for (path, message), numbers in failed.items():
        where = ".".join(map(str, path))
        direct = next((i for i, (at, _) in enumerate(axes) if path[:len(at.path)] == at.path), None)
        if direct is not None:
            rest = ".".join(map(str, path[len(axes[direct][0].path):]))
            said = f"{rest}: {message}" if rest else message
            out += _on_axis(axes, combos, numbers, direct, said)
        elif len(numbers) == len(combos):
            out.append((("base", *path), message))
        elif (explains := next((i for i in range(len(axes)) if _depends_on(combos, numbers, i)), None)) is not None:
            out += _on_axis(axes, combos, numbers, explains, f"{where}: {message}")
        else:
            first = combos[min(numbers)]
            coords = ", ".join(f"{at.name}={shown(value)}" for (at, _), value in zip(axes, first, strict=True))
            more = f" (and {len(numbers) - 1} more combinations)" if len(numbers) > 1 else ""
            out.append((("axes",), f"{coords}{more}: {where}: {message}"))
    return list(dict.fromkeys(out))


def _on_axis(axes: Sequence[tuple[Axis, list[Any]]], combos: Sequence[tuple[Any, ...]], numbers: set[int],
             index: int, message: str) -> list[tuple[Path, str]]:
    """The problem once for each value of the axis that has it."""
    name = axes[index][0].name
    values = {json.dumps(combos[n][index], sort_keys=True, default=str): combos[n][index] for n in sorted(numbers)}
    return [(("axes", name), f"{name}={shown(value)}: {message}") for value in values.values()]


def _depends_on(combos: Sequence[tuple[Any, ...]], numbers: set[int], index: int) -> bool:
    """Whether the problem comes with some values of this axis whatever the others are."""
    groups: dict[str, set[int]] = {}
    for number, combo in enumerate(combos):
        groups.setdefault(json.dumps(combo[index], sort_keys=True, default=str), set()).add(number)
    return all(group <= numbers or not group & numbers for group in groups.values())
