"""A worker's progress reports (workers/main.JobReporter): coalesced to one
message an interval, the first and last steps at once, nothing after its run."""

from __future__ import annotations

import time
from typing import Any

from fastvideo_ui.workers.main import JobReporter


class Sent:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)


def test_reports_are_coalesced_the_first_and_last_steps_go_at_once_and_held_ones_follow() -> None:
    channel = Sent()
    reporter = JobReporter(channel, "run", set())  # type: ignore[arg-type]
    reporter.phase("starting")  # the first message goes at once
    reporter.phase("encoding prompt")
    reporter.phase("denoising")
    assert [m.get("phase") for m in channel.messages] == ["starting"]
    time.sleep(0.01)
    reporter.step(1, 3)  # at once, with what was held
    first = channel.messages[-1]
    assert (first["phase"], first["step"], first["total"]) == ("denoising", 1, 3) and first["elapsed"] >= 0.01
    reporter.step(2, 3)  # held
    assert channel.messages[-1]["step"] == 1
    reporter.step(3, 3)  # the last: at once
    assert channel.messages[-1]["step"] == 3 and len(channel.messages) == 3
    reporter.phase("decoding")  # held, then sent when the interval ends
    deadline = time.monotonic() + 2
    while channel.messages[-1].get("phase") != "decoding" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert channel.messages[-1] == {"type": "progress", "phase": "decoding"}


def test_what_is_held_when_a_run_ends_is_never_sent() -> None:
    channel = Sent()
    reporter = JobReporter(channel, "run", set())  # type: ignore[arg-type]
    reporter.phase("starting")
    reporter.phase("saving")  # held
    reporter.close()
    reporter.flush()  # what the flusher thread does when the interval ends
    assert channel.messages == [{"type": "progress", "phase": "starting"}]  # not the next run's progress
