"""How long explaining a failed FastVideo run waits for a GPU worker's exit
code: a killed worker's pipes close before it can be reaped, so the explanation
waits (up to DEAD_WORKER_WAIT_S) for its code; a worker that reported its own
error, or no workers at all, is not waited for. A fake clock counts the wait:
no test here depends on how fast the machine is."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from fastvideo_ui.backends import fastvideo
from fastvideo_ui.backends.fastvideo import _FORWARD_FAILED, DEAD_WORKER_WAIT_S, FastVideoBackend


class Clock:
    """time.monotonic and time.sleep for the backend: sleeping moves the clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


class Proc:
    """A GPU worker's process whose exit code shows once the clock reaches `reaped_at`."""

    def __init__(self, clock: Clock, code: int | None, reaped_at: float = 0.0) -> None:
        self.clock, self.code, self.reaped_at = clock, code, reaped_at

    @property
    def exitcode(self) -> int | None:
        return self.code if self.clock.now >= self.reaped_at else None


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    made = Clock()
    monkeypatch.setattr(fastvideo, "time", made)
    return made


def backend(*procs: Proc, report: str | None = None) -> FastVideoBackend:
    made = FastVideoBackend()
    made.phase = "denoising"
    made.gpu_worker_signalled = True
    made.parser.worker_error = report
    workers: list[Any] = [SimpleNamespace(rank=rank, proc=proc) for rank, proc in enumerate(procs)]
    made.generator = SimpleNamespace(executor=SimpleNamespace(workers=workers))
    return made


def explained(made: FastVideoBackend) -> str | None:
    return made.explain_error(RuntimeError(_FORWARD_FAILED))


def test_a_killed_worker_is_waited_for_until_its_exit_code_comes(clock: Clock) -> None:
    said = explained(backend(Proc(clock, -9, reaped_at=0.2)))  # reaped a little after the failure
    assert said == "a FastVideo GPU worker (rank 0) was killed by SIGKILL (9) (out of memory?) while denoising"
    assert 0.2 <= clock.slept < DEAD_WORKER_WAIT_S  # the wait ended when the code came


def test_no_wait_when_a_worker_reported_its_error_or_every_worker_has_ended_or_there_are_none(clock: Clock) -> None:
    # FastVideo's worker logs its exception, SIGQUITs its parent and exits 0.
    said = explained(backend(Proc(clock, None), report="rank 0: torch.OutOfMemoryError: CUDA out of memory."))
    assert said is not None and said.startswith("CUDA out of memory")
    assert explained(backend(Proc(clock, 0), Proc(clock, 0))) == "a FastVideo GPU worker died while denoising"
    unloaded = backend()
    unloaded.generator = None
    assert explained(unloaded) == "a FastVideo GPU worker died while denoising"
    assert clock.slept == 0


def test_a_worker_that_never_ends_is_waited_for_at_most_the_limit(clock: Clock) -> None:
    assert explained(backend(Proc(clock, None))) == "a FastVideo GPU worker died while denoising"
    assert DEAD_WORKER_WAIT_S <= clock.slept < DEAD_WORKER_WAIT_S + 0.1
