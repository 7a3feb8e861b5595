"""In-process event bus behind `GET /api/events` (Server-Sent Events).

Ids are `<boot>-<n>`: a client resuming with a Last-Event-ID from this boot gets
the events it missed from the ring buffer; one from an earlier boot, or too old
for the buffer, gets a `reset` event telling it to refetch the job list.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Event:
    seq: int
    type: str
    data: dict[str, Any]
    boot: str

    @property
    def id(self) -> str:
        return f"{self.boot}-{self.seq}"


@dataclass(frozen=True)
class Encoded:
    """An event as its SSE frame: encoded once at publish, not once per
    subscriber, and a tenth of the dict's memory in the replay buffer."""

    seq: int
    boot: str
    frame: bytes

    @classmethod
    def of(cls, event: Event) -> "Encoded":
        data = json.dumps(event.data, separators=(",", ":"))
        return cls(event.seq, event.boot, f"id: {event.id}\nevent: {event.type}\ndata: {data}\n\n".encode())


RESET = "reset"


class EventBus:
    def __init__(self, capacity: int = 10000, subscriber_queue: int = 2000) -> None:
        self.boot = uuid.uuid4().hex[:12]
        self._seq = 0
        self._buffer: deque[Encoded] = deque(maxlen=capacity)
        self._subscribers: set[asyncio.Queue[Encoded | None]] = set()
        self._queue_size = subscriber_queue

    def publish(self, type_: str, data: dict[str, Any]) -> Event:
        """Call from the event loop thread."""
        self._seq += 1
        event = Event(self._seq, type_, data, self.boot)
        encoded = Encoded.of(event)
        self._buffer.append(encoded)
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(encoded)
            except asyncio.QueueFull:
                # A reader this far behind is dropped; it reconnects with
                # Last-Event-ID and catches up from the buffer.
                self._subscribers.discard(queue)
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(None)  # tells the stream to close
        return event

    def subscribe(self, last_event_id: str | None) -> tuple[list[Encoded], asyncio.Queue[Encoded | None]]:
        """Events to replay first, and a queue of the ones after them."""
        queue: asyncio.Queue[Encoded | None] = asyncio.Queue(maxsize=self._queue_size)
        self._subscribers.add(queue)
        return self._replay(last_event_id), queue

    def unsubscribe(self, queue: asyncio.Queue[Encoded | None]) -> None:
        self._subscribers.discard(queue)

    def _replay(self, last_event_id: str | None) -> list[Encoded]:
        if not last_event_id:
            return []
        boot, _, seq_text = last_event_id.rpartition("-")
        try:
            seq = int(seq_text)
        except ValueError:
            seq = -1
        oldest = self._buffer[0].seq if self._buffer else self._seq + 1
        if boot != self.boot or seq < 0 or seq > self._seq or (seq + 1 < oldest and seq < self._seq):
            reset = Event(self._seq, RESET, {"reason": "missed events; refetch the job list"}, self.boot)
            return [Encoded.of(reset)]
        return [event for event in self._buffer if event.seq > seq]

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)
