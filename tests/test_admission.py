"""Who gives way past a connection cap, and whom a connection counts as: pure
logic, on stand-ins for the server's connections."""

from __future__ import annotations

from dataclasses import dataclass

from conftest import run_in_own_loop
from fastvideo_ui.admission import ANSWERING, IDLE, RECEIVING, SETTLE_HEADROOM, Admission, gives_way


@dataclass(eq=False)
class Connection:
    name: str
    phase: str
    progress_at: float
    phase_since: float = 0.0
    stalled: bool = False  # a response its client does not read
    stream: bool = False  # an event stream
    gone: bool = False
    address: str = "loopback"
    answered: int = 0

    def kept_alive(self) -> bool:
        return self.phase == IDLE and self.answered > 0

    def waits_on_client(self) -> bool:
        return self.phase in (IDLE, RECEIVING) or (self.phase == ANSWERING and self.stalled)

    def is_event_stream(self) -> bool:
        return self.stream

    def closing(self) -> bool:
        return self.gone

    def give_way(self) -> None:
        self.gone = True


def test_who_gives_way_first() -> None:
    upload = Connection("upload", RECEIVING, 99.9, phase_since=1.0)  # began long ago, sending still
    trickle = Connection("trickle", RECEIVING, 60.0, phase_since=50.0)
    fresh = Connection("fresh", IDLE, 99.95)  # has sent nothing yet: its request may be on its way
    silent = Connection("silent", IDLE, 40.0)  # has sent nothing for a long time
    kept = Connection("kept", IDLE, 90.0, answered=3)  # an idle keep-alive
    download = Connection("download", ANSWERING, 10.0)  # answering, and read
    stalled = Connection("stalled", ANSWERING, 70.0, stalled=True)  # a response nobody reads
    # An idle keep-alive first, however recent.
    assert gives_way([upload, trickle, fresh, silent, kept, download, stalled]) is kept
    # Then whoever waits on a client that has done nothing for longest: never a busy upload first.
    assert gives_way([upload, trickle, fresh, silent, download, stalled]) is silent
    assert gives_way([upload, trickle, fresh, download, stalled]) is trickle
    assert gives_way([upload, fresh, download, stalled]) is stalled
    assert gives_way([upload, fresh, download]) is upload
    assert gives_way([fresh, download]) is fresh
    # One being answered is never cut short.
    assert gives_way([download]) is None
    assert gives_way([Connection("closing", IDLE, 0.0, gone=True)]) is None


def test_an_event_stream_gives_way_before_an_answer_but_after_anyone_waiting() -> None:
    old_stream = Connection("old", ANSWERING, 99.0, phase_since=5.0, stream=True)
    new_stream = Connection("new-stream", ANSWERING, 99.0, phase_since=50.0, stream=True)
    idle = Connection("idle", IDLE, 99.5, answered=1)
    answering = Connection("answering", ANSWERING, 99.0)
    assert gives_way([new_stream, old_stream, idle, answering]) is idle
    assert gives_way([new_stream, old_stream, answering]) is old_stream
    assert gives_way([answering]) is None


def test_a_newcomer_past_the_cap_is_let_in_and_the_excess_settled() -> None:
    async def admit() -> tuple[list[bool], list[str], int]:
        admission = Admission(max_connections=2, max_per_client=2)
        crowd = [Connection(f"c{at}", RECEIVING, float(at), address="crowd") for at in range(3)]
        other = Connection("other", IDLE, 0.5, address="elsewhere")
        admitted = [admission.arrived(connection) for connection in (*crowd, other)]
        admission.settle()
        return admitted, [c.name for c in (*crowd, other) if c.gone], len(admission)

    admitted, gone, left = run_in_own_loop(admit())
    assert admitted == [True] * 4  # nobody is turned away for arriving
    # The crowd's quiet-longest gives way to its own cap; then the quiet-longest of all.
    assert gone == ["c0", "other"] and left == 2


def test_far_past_the_cap_a_newcomer_is_closed_on_arrival() -> None:
    async def admit() -> list[bool]:
        admission = Admission(max_connections=1, max_per_client=10**6)
        return [admission.arrived(Connection(f"c{at}", IDLE, 0.0)) for at in range(SETTLE_HEADROOM + 2)]

    admitted = run_in_own_loop(admit())
    assert admitted[:SETTLE_HEADROOM + 1] == [True] * (SETTLE_HEADROOM + 1) and admitted[-1] is False


def test_a_client_past_its_own_cap_is_still_let_in_to_be_judged() -> None:
    async def admit() -> list[bool]:
        admission = Admission(max_connections=10**6, max_per_client=2)
        # A flood that reconnects at once would keep any headroom of its client full,
        # and so turn away everyone else of that client (all of this machine, on loopback).
        return [admission.arrived(Connection(f"c{at}", RECEIVING, float(at))) for at in range(SETTLE_HEADROOM * 3)]

    assert all(run_in_own_loop(admit()))
