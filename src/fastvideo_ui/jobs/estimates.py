"""How long a job is expected to run, from the runs of its model that completed.

Backfilling trusts these figures to keep the head job's start, so they err
long: the slowest of the latest runs of the same shape, else the slowest
seconds-per-unit-of-work of the model's latest runs on as many GPUs, scaled to
this job and padded by half. With no history there is no estimate, and the
placement never backfills such a job into a reservation.
"""

from __future__ import annotations

from collections.abc import Sequence

# (seconds, width, height, num_frames, num_inference_steps, num_gpus)
History = Sequence[tuple[float, int, int, int, int, int]]

SAME_SHAPE_RUNS = 5
SCALED_RUNS = 10
SCALED_PADDING = 1.5


def estimate_seconds(history: History, width: int, height: int, num_frames: int, num_inference_steps: int,
                     num_gpus: int) -> float | None:
    shape = (width, height, num_frames, num_inference_steps, num_gpus)
    alike = [seconds for seconds, *rest in history if tuple(rest) == shape][:SAME_SHAPE_RUNS]
    if alike:
        return max(alike)
    work = width * height * num_frames * num_inference_steps
    rates = [seconds / (w * h * f * s) for seconds, w, h, f, s, g in history
             if g == num_gpus and w * h * f * s > 0][:SCALED_RUNS]
    if not rates:
        return None
    return SCALED_PADDING * max(rates) * work
