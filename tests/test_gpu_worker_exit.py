"""How long explaining a failed FastVideo run waits for a GPU worker's exit
code: a killed worker's pipes close before it can be reaped, so the explanation
waits (up to DEAD_WORKER_WAIT_S) for its code; a worker that reported its own
error, or no workers at all, is not waited for."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

from fastvideo_ui.backends.fastvideo import _FORWARD_FAILED, DEAD_WORKER_WAIT_S, FastVideoBackend


class Proc:
    def __init__(self, code: int | None = None) -> None:
        self.exitcode = code


def backend(*procs: Proc, report: str | None = None) -> FastVideoBackend:
    made = FastVideoBackend()
    made.phase = "denoising"
    made.gpu_worker_signalled = True
    made.parser.worker_error = report
    workers: list[Any] = [SimpleNamespace(rank=rank, proc=proc) for rank, proc in enumerate(procs)]
    made.generator = SimpleNamespace(executor=SimpleNamespace(workers=workers))
    return made


def timed(made: FastVideoBackend) -> tuple[float, str | None]:
    started = time.monotonic()
    said = made.explain_error(RuntimeError(_FORWARD_FAILED))
    return time.monotonic() - started, said


def test_a_killed_worker_is_waited_for_until_its_exit_code_comes() -> None:
    proc = Proc()
    threading.Timer(0.2, lambda: setattr(proc, "exitcode", -9)).start()  # reaped a little after the failure
    took, said = timed(backend(proc))
    assert said == "a FastVideo GPU worker (rank 0) was killed by SIGKILL (9) (out of memory?) while denoising"
    assert took < DEAD_WORKER_WAIT_S  # it came: the wait ended with it


def test_no_wait_when_a_worker_reported_its_error_or_every_worker_has_ended_or_there_are_none() -> None:
    # FastVideo's worker logs its exception, SIGQUITs its parent and exits 0.
    took, said = timed(backend(Proc(), report="rank 0: torch.OutOfMemoryError: CUDA out of memory."))
    assert took < DEAD_WORKER_WAIT_S / 2 and said is not None and said.startswith("CUDA out of memory")
    took, said = timed(backend(Proc(0), Proc(0)))
    assert took < DEAD_WORKER_WAIT_S / 2 and said == "a FastVideo GPU worker died while denoising"
    unloaded = backend()
    unloaded.generator = None
    took, said = timed(unloaded)
    assert took < DEAD_WORKER_WAIT_S / 2 and said == "a FastVideo GPU worker died while denoising"


def test_a_worker_that_never_ends_is_waited_for_at_most_the_limit() -> None:
    took, said = timed(backend(Proc()))
    assert took >= DEAD_WORKER_WAIT_S
    assert said == "a FastVideo GPU worker died while denoising"
