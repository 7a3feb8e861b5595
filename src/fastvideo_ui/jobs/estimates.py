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

from collections.abc import Callable, Sequence
from typing import NamedTuple

# (seconds, load seconds or None, width, height, num_frames, num_inference_steps, num_gpus), newest first
History = Sequence[tuple[float, float | None, int, int, int, int, int]]

SAME_SHAPE_RUNS = 5
SCALED_RUNS = 10
SCALED_PADDING = 1.5


class Shape(NamedTuple):
    width: int
    height: int
    num_frames: int
    num_inference_steps: int
    num_gpus: int

    @property
    def work(self) -> int:
        return self.width * self.height * self.num_frames * self.num_inference_steps


def estimate_seconds(history: History, shape: Shape) -> float | None:
    """The whole run, model load included, erring long."""
    alike = [seconds for seconds, _load, *rest in history if tuple(rest) == shape][:SAME_SHAPE_RUNS]
    if alike:
        return max(alike)
    rates = _rates(history, shape, lambda seconds, _load: seconds)
    return SCALED_PADDING * max(rates) * shape.work if rates else None


def owed_estimate(history: History, shape: Shape) -> tuple[float, float] | None:
    """(seconds with the model loaded, seconds to load it), erring short."""
    def warm(seconds: float, load: float | None) -> float:
        return max(0.0, seconds - (load or 0.0))

    loads = [load for _seconds, load, *_rest in history if load is not None][:SAME_SHAPE_RUNS]
    load_s = min(loads, default=0.0)
    alike = [warm(seconds, load) for seconds, load, *rest in history if tuple(rest) == shape][:SAME_SHAPE_RUNS]
    if alike:
        return min(alike), load_s
    rates = _rates(history, shape, warm)
    return (min(rates) * shape.work, load_s) if rates else None


def _rates(history: History, shape: Shape, seconds_of: Callable[[float, float | None], float]) -> list[float]:
    """Seconds per unit of work of the latest runs on as many GPUs."""
    return [seconds_of(seconds, load) / (w * h * f * s) for seconds, load, w, h, f, s, g in history
            if g == shape.num_gpus and w * h * f * s > 0][:SCALED_RUNS]
