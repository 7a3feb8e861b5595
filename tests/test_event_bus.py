"""The event stream's memory: the replay ring is bounded in bytes as well as in
events, a subscriber's backlog too, and a client that resumes past what the
ring still holds is told to refetch."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from conftest import PREVIEW, InProcessServer
from fastvideo_ui.jobs.events import RESET, EventBus

# An astral character: 4 bytes of UTF-8, 12 as a JSON escape pair.
WIDE = "\U0001f98a"


def in_a_loop_of_its_own(work: Coroutine[Any, Any, None]) -> None:
    """asyncio.run in another thread: the browser tests' Playwright keeps a loop running in this one."""
    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, work).result(timeout=60)


def job_like(index: int) -> dict[str, object]:
    """What a job's event carries at most: two 10,000-character prompts."""
    return {"id": str(index), "prompt": WIDE * 10_000, "negative_prompt": WIDE * 10_000}


def test_the_ring_keeps_at_most_its_bytes_and_a_resume_past_them_is_reset() -> None:
    bus = EventBus()  # the defaults: 10,000 events, 64 MiB
    for index in range(1000):  # 80 MB of events, far fewer than 10,000
        bus.publish("created", job_like(index))
    replay, _ = bus.subscribe(f"{bus.boot}-0")
    assert [event.frame.split(b"\n")[1] for event in replay] == [f"event: {RESET}".encode()]
    assert 60 * 2**20 < bus.replay_bytes_held <= 64 * 2**20
    # A resume within what is held replays all of it, in order.
    replay, _ = bus.subscribe(f"{bus.boot}-990")
    assert [event.seq for event in replay] == list(range(991, 1001))


def test_characters_go_out_as_utf8_not_as_escapes() -> None:
    bus = EventBus()
    bus.publish("created", {"prompt": WIDE + '"'})
    bus.publish("created", {"prompt": "\ud800"})  # a lone surrogate cannot be UTF-8: escaped as before
    replay, _ = bus.subscribe(f"{bus.boot}-0")
    frames = [event.frame for event in replay]
    assert frames[0].endswith(b'data: {"prompt":"' + WIDE.encode() + b'\\""}\n\n')
    assert frames[1].endswith(b'data: {"prompt":"\\ud800"}\n\n')
    assert [json.loads(frame.split(b"data: ")[1])["prompt"] for frame in frames] == [WIDE + '"', "\ud800"]


def test_a_subscriber_that_falls_a_quarter_of_the_ring_behind_is_dropped_to_resume() -> None:
    async def run() -> None:
        bus = EventBus()
        _, subscription = bus.subscribe(None)
        for index in range(300):  # 24 MB unread: more than 16 MiB, fewer than 2,000 events
            bus.publish("created", job_like(index))
        assert bus.subscriber_count == 0
        got = []
        while (event := await asyncio.wait_for(subscription.get(), 5)) is not None:
            got.append(event)
        assert got == []  # the backlog goes at once: the ring still has it for the resume
        replay, _ = bus.subscribe(f"{bus.boot}-0")
        assert [event.seq for event in replay] == list(range(1, 301))

    in_a_loop_of_its_own(run())


def test_a_replay_overtaken_by_the_ring_resets_there_and_goes_on_live() -> None:
    async def run() -> None:
        bus = EventBus(replay_bytes=2**20)  # 5 events of 200 KB; a subscriber may fall 256 KiB behind
        for index in range(5):
            bus.publish("updated", {"id": str(index), "log": "x" * 200_000})
        replay, subscription = bus.subscribe(f"{bus.boot}-0")
        assert next(replay).seq == 1
        # Meanwhile one larger event pushes 1 and 2 out of the ring, before this reader got to 2.
        bus.publish("updated", {"id": "5", "log": "x" * 250_000})
        rest = list(replay)
        assert len(rest) == 1 and b"event: reset" in rest[0].frame and rest[0].seq == 5
        assert (await subscription.get()).seq == 6  # type: ignore[union-attr]

    in_a_loop_of_its_own(run())


def first_event(server: InProcessServer, since: str) -> tuple[str, str]:
    """The id and type of the first event GET /api/events?since= sends."""
    fields: dict[str, str] = {}
    with server.client.stream("GET", "/api/events", params={"since": since}, timeout=30) as response:
        for line in response.iter_lines():
            if line.startswith(("id: ", "event: ")):
                name, _, value = line.partition(": ")
                fields[name] = value
            elif line == "" and "event" in fields:
                break
    return fields["id"], fields["event"]


def test_the_flag_sets_the_rings_bytes(tmp_path: Path) -> None:
    for flags, first in (([], "created"), (["--event-replay-bytes", str(2**20)], RESET)):
        server = InProcessServer(tmp_path / f"data{len(flags)}", flags).start()
        try:
            for index in range(20):  # 80 KB each: 1.6 MB in all
                server.create(model_id=PREVIEW, prompt=f"{index} " + WIDE * 9_000, negative_prompt=WIDE * 10_000)
            boot = first_event(server, "x-0")[0].rsplit("-", 1)[0]  # another boot's id: a reset, with ours
            assert first_event(server, f"{boot}-0")[1] == first
        finally:
            server.terminate()
