"""Who keeps a connection when there are too many: the connection caps
(--max-connections, --max-connections-per-client) and who gives way.

A newcomer past a cap is let in at once, and the excess settled a moment
later (SETTLE_S), once newcomers have had the time to send their request: so
a client that arrives in the middle of a flood is judged by what it does, not
turned away for arriving, and a socket that has sent nothing is not mistaken
for one whose request is on its way. Then, until both caps hold, the
connection that gives way is (`gives_way`):

1. an idle keep-alive (a request answered, no other begun), the one quiet
   longest: its client opens another when it needs one;
2. one that waits on its client (a socket that has sent nothing yet, a body
   still arriving, a response it does not read), the one whose client has done
   nothing for longest: an upload that keeps sending, or a download that keeps
   reading, is never it, and a flood's old sockets go before a newcomer's;
3. the oldest event stream (a browser's EventSource comes back by itself and
   resumes where it was).

A connection being answered otherwise is never cut short: while only those
are left, the excess waits (and is looked at again every SETTLE_S) until one
of them is done.

Connections count by client (addresses.address_group: this machine's
loopback addresses are one, an IPv6 client its /64).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Protocol

IDLE = "idle"  # waiting for a request's first byte
RECEIVING = "receiving"  # headers or body arriving
ANSWERING = "answering"  # the request is in: the app works on it, or its response is being written
EVENT_STREAM_PATH = "/api/events"
SETTLE_S = 0.05
# Connections held past --max-connections while they settle; past this many
# more, a newcomer is closed on arrival (the descriptors kept free are
# RESERVED_FDS). None past the per-client cap: a flood that reconnects at once
# would keep its own headroom full, and turn away everyone else of its client.
SETTLE_HEADROOM = 128


class Admitted(Protocol):
    """What admission reads of a connection (the protocol in connections.py)."""

    address: str
    phase: str
    phase_since: float  # when it entered its phase
    progress_at: float  # when its client last sent something, or read some of a response

    def kept_alive(self) -> bool:
        """Idle after answering a request."""

    def waits_on_client(self) -> bool:
        """Nothing sent yet, a request arriving, or a response its client does not read."""

    def is_event_stream(self) -> bool: ...

    def closing(self) -> bool: ...

    def give_way(self) -> None: ...


def gives_way(among: Iterable[Admitted]) -> Admitted | None:
    """The connection that gives way (the module's order), or None."""
    idle, waiting, streams = [], [], []
    for connection in among:
        if connection.closing():
            continue
        if connection.kept_alive():
            idle.append(connection)
        elif connection.waits_on_client():
            waiting.append(connection)
        elif connection.is_event_stream():
            streams.append(connection)
    for group in (idle, waiting):
        if group:
            return min(group, key=lambda connection: connection.progress_at)
    return min(streams, key=lambda connection: connection.phase_since) if streams else None


class Admission:
    """One server's open connections, and the caps on them."""

    def __init__(self, max_connections: int, max_per_client: int) -> None:
        self.max_connections = max_connections
        self.max_per_client = max_per_client
        self._open: set[Admitted] = set()
        self._by_client: dict[str, set[Admitted]] = {}
        self._settling: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._open)

    def arrived(self, connection: Admitted) -> bool:
        """Count it in; False when it must be closed at once (far past a cap)."""
        if len(self._open) >= self.max_connections + SETTLE_HEADROOM:
            return False
        mine = self._by_client.setdefault(connection.address, set())
        self._open.add(connection)
        mine.add(connection)
        over = len(self._open) > self.max_connections or len(mine) > self.max_per_client
        if over and self._settling is None:
            self._settling = asyncio.get_running_loop().call_later(SETTLE_S, self.settle)
        return True

    def left(self, connection: Admitted) -> None:
        self._open.discard(connection)
        mine = self._by_client.get(connection.address)
        if mine is not None:
            mine.discard(connection)
            if not mine:
                del self._by_client[connection.address]

    def settle(self) -> None:
        """Close connections that give way until both caps hold (or none can)."""
        self._settling = None
        for address in [address for address, mine in self._by_client.items() if len(mine) > self.max_per_client]:
            while len(self._by_client.get(address, ())) > self.max_per_client:
                if not self._close_one(self._by_client[address]):
                    break
        while len(self._open) > self.max_connections:
            if not self._close_one(self._open):
                break
        if self._over():  # only connections being answered are left: look again soon
            self._settling = asyncio.get_running_loop().call_later(SETTLE_S, self.settle)

    def _over(self) -> bool:
        return len(self._open) > self.max_connections or any(
            len(mine) > self.max_per_client for mine in self._by_client.values())

    def _close_one(self, among: set[Admitted]) -> bool:
        victim = gives_way(among)
        if victim is None:
            return False
        self.left(victim)
        victim.give_way()
        return True
