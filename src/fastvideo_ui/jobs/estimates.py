"""How long a job is expected to run, from the runs that completed before it.

Two figures, erring opposite ways because they guard opposite promises:

- `seconds`, the whole run, loads included. Backfilling trusts it to keep the
  head job's start, so it errs long.
- `owed`, the run with its model loaded and the load apart. It feeds the
  first-in-first-out start a job is owed (fairness.py), which must not come
  later than the real one: a late one lets model affinity pass the job for
  longer than the starvation bound allows. So it errs short.

Each comes from the nearest history there is, and says which (`source`):

1. `same_shape`: the model's latest runs of the job's very shape (the slowest
   for `seconds`; the fastest, less its load, for `owed`).
2. `scaled`, by steps: the model's latest runs of the job's pixels and frames
   with another step count, from each run's seconds per denoising step (as
   the run measured them) and the rest of its time, which steps do not change.
   Across GPU counts only what is safe for each side is assumed of the steps:
   more GPUs are never slower and at best linearly faster, fewer at worst
   linearly slower.
3. `scaled`, by work: the model's latest runs of other shapes, as seconds per
   unit of work (pixels x frames x steps), scaled to this job's work, across
   GPU counts as above, runs on as many GPUs first; `seconds` is padded by
   half (attention grows faster than the pixels).
4. `other_model`: another model's runs, scaled the same way and by the ratio
   of the two models' parameter counts.
5. `prior`: a model never run on a server that has run nothing comparable:
   a rate per billion parameters (PRIOR_SECONDS_PER_WORK_PER_B, Wan2.1 1.3B on
   one H100, about 2.4 s a step at 832x480x81). Only an order of magnitude; it
   lets a fresh server backfill from the first pass, and the first run to end
   replaces it with history. It gives no owed start: a job with it is passed
   by model affinity at most once, as one with no estimate.

A model with no parameter count (the preview renderer) and no history of its
own has no estimate: placement then never backfills it into a reservation, and
affinity passes it at most once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

from ..spec.fields import BY_NAME, FIELDS

# What a run's duration scales with, as the spec says: the work (their product), of which the
# denoising steps, and the devices.
WORK_FIELDS = tuple(f.name for f in FIELDS if f.cost in ("work", "steps"))
STEPS_AT = next(index for index, name in enumerate(WORK_FIELDS) if BY_NAME[name].cost == "steps")
STEPS_FIELD = WORK_FIELDS[STEPS_AT]
DEVICES_FIELD = next(f.name for f in FIELDS if f.cost == "devices")

# (seconds, load seconds or None, seconds per denoising step or None, *the WORK_FIELDS values,
# the DEVICES_FIELD value), newest first
History = Sequence[tuple[Any, ...]]
# (the model's parameters in billions, *a History entry): other models' runs, newest first
OtherHistory = Sequence[tuple[Any, ...]]

SAME_SHAPE_RUNS = 5
SCALED_RUNS = 10
SCALED_PADDING = 1.5
PRIOR_SECONDS_PER_WORK_PER_B = 5.7e-8

SOURCES = ("same_shape", "scaled", "other_model", "prior")


class Shape(NamedTuple):
    sizes: tuple[int, ...]  # the WORK_FIELDS values
    devices: int

    @classmethod
    def of(cls, values: Any) -> Shape:
        """A job's shape from its values by attribute (JobParams, a queued job's)."""
        return cls(tuple(getattr(values, name) for name in WORK_FIELDS), getattr(values, DEVICES_FIELD))

    @property
    def work(self) -> int:
        return math.prod(self.sizes)

    @property
    def key(self) -> tuple[int, ...]:
        """As a history entry ends."""
        return (*self.sizes, self.devices)


class Estimate(NamedTuple):
    seconds: float  # the whole run, load included, erring long
    owed: tuple[float, float] | None  # (seconds with the model loaded, seconds to load it), erring short
    source: str  # one of SOURCES


def estimate(history: History, shape: Shape, parameters_b: float | None = None,
             others: OtherHistory = ()) -> Estimate | None:
    """The job's estimate from the nearest history (see the module's docstring), or None."""
    loads = [load for _seconds, load, *_rest in history if load is not None][:SAME_SHAPE_RUNS]
    load_s = min(loads, default=0.0)
    key = shape.key
    alike = [(seconds, load) for seconds, load, _step, *rest in history if tuple(rest) == key][:SAME_SHAPE_RUNS]
    if alike:
        return Estimate(max(seconds for seconds, _ in alike), (min(_warm(*run) for run in alike), load_s),
                        "same_shape")
    by_steps = _by_steps(history, shape)
    if by_steps is not None:
        return Estimate(by_steps[0], (by_steps[1], load_s), "scaled")
    scaled = _scaled([(1.0, run) for run in history], shape)
    if scaled is not None:
        return Estimate(scaled[0], (scaled[1], load_s), "scaled")
    if parameters_b is None:
        return None
    scaled = _scaled([(parameters_b / run[0], tuple(run[1:])) for run in others if run[0]], shape)
    if scaled is not None:
        return Estimate(scaled[0], (scaled[1], 0.0), "other_model")
    # One GPU's time (more GPUs are never slower). No owed start comes of it: a guess this rough, made
    # short, owed every job its turn at once, and no warm worker could take a job ahead of another.
    return Estimate(PRIOR_SECONDS_PER_WORK_PER_B * parameters_b * shape.work, None, "prior")


def _warm(seconds: float, load: float | None) -> float:
    return max(0.0, seconds - (load or 0.0))


def _by_steps(history: History, shape: Shape) -> tuple[float, float] | None:
    """(erring long, erring short) from the latest runs of the same pixels and
    frames that measured their seconds per step: the rest of a run's time as it
    was, its steps at this job's count; runs on as many devices first."""
    others = (*shape.sizes[:STEPS_AT], *shape.sizes[STEPS_AT + 1:])
    usable = [run for run in history
              if run[2] and run[-1] > 0 and (*run[3:3 + STEPS_AT], *run[4 + STEPS_AT:-1]) == others]
    same = [run for run in usable if run[-1] == shape.devices]
    longs, shorts = [], []
    for seconds, load, step_s, *sizes, devices in (same or usable)[:SCALED_RUNS]:
        rest = max(0.0, seconds - step_s * sizes[STEPS_AT])
        steps_s = step_s * shape.sizes[STEPS_AT]
        longs.append(rest + steps_s * max(1.0, devices / shape.devices))
        shorts.append(max(0.0, rest - (load or 0.0)) + steps_s * min(1.0, devices / shape.devices))
    return (max(longs), min(shorts)) if longs else None


def _scaled(runs: Sequence[tuple[float, tuple[Any, ...]]], shape: Shape) -> tuple[float, float] | None:
    """(erring long, erring short) from the seconds per unit of work of the
    latest runs, on as many devices where there are any; each run comes with
    the factor its time is multiplied by (the ratio of parameter counts)."""
    usable = [(factor, run) for factor, run in runs if run[-1] > 0 and math.prod(run[3:-1]) > 0]
    same = [(factor, run) for factor, run in usable if run[-1] == shape.devices]
    chosen = (same or usable)[:SCALED_RUNS]
    if not chosen:
        return None
    longs, shorts = [], []
    for factor, (seconds, load, _step, *sizes, devices) in chosen:
        ratio = factor * shape.work / math.prod(sizes)
        longs.append(seconds * ratio * max(1.0, devices / shape.devices))
        shorts.append(_warm(seconds, load) * ratio * min(1.0, devices / shape.devices))
    return SCALED_PADDING * max(longs), min(shorts)
