"""How long a job is expected to run, from the runs of its model that completed.

Two figures, erring opposite ways because they guard opposite promises:

- `estimate_seconds`, the whole run, loads included. Backfilling trusts it to
  keep the head job's start, so it errs long: the slowest of the latest runs
  of the same shape, else the slowest seconds-per-unit-of-work of the model's
  latest runs on as many GPUs, scaled to this job and padded by half.
- `owed_estimate`, the run with its model loaded and the load apart. It feeds
  the first-in-first-out start a job is owed (fairness.py), which must not come
  later than the real one: a late one lets model affinity pass the job for
  longer than the starvation bound allows. So it errs short: the fastest of the
  same runs, less their loads, and the fastest recent load of the model.

With no history there is no estimate: placement then never backfills such a
job into a reservation, and affinity passes it at most once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from ..spec.fields import FIELDS

# What a run's duration scales with, as the spec says: the work (their product) and the devices.
WORK_FIELDS = tuple(f.name for f in FIELDS if f.cost == "work")
DEVICES_FIELD = next(f.name for f in FIELDS if f.cost == "devices")

# (seconds, load seconds or None, *the WORK_FIELDS values, the DEVICES_FIELD value), newest first
History = Sequence[tuple[Any, ...]]

SAME_SHAPE_RUNS = 5
SCALED_RUNS = 10
SCALED_PADDING = 1.5


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


def estimate_seconds(history: History, shape: Shape) -> float | None:
    """The whole run, model load included, erring long."""
    key = shape.key
    alike = [seconds for seconds, _load, *rest in history if tuple(rest) == key][:SAME_SHAPE_RUNS]
    if alike:
        return max(alike)
    rates = _rates(history, shape, lambda seconds, _load: seconds)
    return SCALED_PADDING * max(rates) * shape.work if rates else None


def owed_estimate(history: History, shape: Shape) -> tuple[float, float] | None:
    """(seconds with the model loaded, seconds to load it), erring short."""
    def warm(seconds: float, load: float | None) -> float:
        return max(0.0, seconds - (load or 0.0))

    key = shape.key
    loads = [load for _seconds, load, *_rest in history if load is not None][:SAME_SHAPE_RUNS]
    load_s = min(loads, default=0.0)
    alike = [warm(seconds, load) for seconds, load, *rest in history if tuple(rest) == key][:SAME_SHAPE_RUNS]
    if alike:
        return min(alike), load_s
    rates = _rates(history, shape, warm)
    return (min(rates) * shape.work, load_s) if rates else None


def _rates(history: History, shape: Shape, seconds_of: Callable[[float, float | None], float]) -> list[float]:
    """Seconds per unit of work of the latest runs on as many devices."""
    return [seconds_of(seconds, load) / work for seconds, load, *sizes, devices in history
            if devices == shape.devices and (work := math.prod(sizes)) > 0][:SCALED_RUNS]
