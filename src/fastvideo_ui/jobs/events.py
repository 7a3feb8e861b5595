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
    """An event as its SSE frame: encoded once at publish, not once per
    subscriber, and far smaller than the job dict in the replay buffer."""

    seq: int
    frame: bytes

    @classmethod
    def encode(cls, boot: str, seq: int, type_: str, data: dict[str, Any]) -> "Event":
        body = json.dumps(data, separators=(",", ":"))
        return cls(seq, f"id: {boot}-{seq}\nevent: {type_}\ndata: {body}\n\n".encode())


# Every event name the stream carries (the web UI listens for these).
CREATED = "created"  # a job, as GET /api/jobs/{id} gives it
UPDATED = "updated"  # a job whose status or fields changed
PROGRESS = "progress"  # a running job's phase, step and ETA
QUEUE = "queue"  # every queued job's position
DELETED = "deleted"  # {"id": ...}
RESET = "reset"  # events were missed: refetch
CLUSTER = "cluster"  # --ray: the cluster's nodes, and whether it is reachable (RayFleet.status)
DOWNLOAD = "download"  # a model's weights being fetched: bytes done and total, rate, ETA


class EventBus:
    def __init__(self, capacity: int = 10000, subscriber_queue: int = 2000) -> None:
        self.boot = uuid.uuid4().hex[:12]
        self._seq = 0
        self._buffer: deque[Event] = deque(maxlen=capacity)
        self._subscribers: set[asyncio.Queue[Event | None]] = set()
        self._queue_size = subscriber_queue

    def publish(self, type_: str, data: dict[str, Any]) -> None:
        """Call from the event loop thread."""
        self._seq += 1
        event = Event.encode(self.boot, self._seq, type_, data)
        self._buffer.append(event)
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                # A reader this far behind is dropped; it reconnects with
                # Last-Event-ID and catches up from the buffer.
                self._subscribers.discard(queue)
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(None)  # tells the stream to close

    def subscribe(self, last_event_id: str | None) -> tuple[list[Event], asyncio.Queue[Event | None]]:
        """Events to replay first, and a queue of the ones after them."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=self._queue_size)
        self._subscribers.add(queue)
        return self._replay(last_event_id), queue

    def unsubscribe(self, queue: asyncio.Queue[Event | None]) -> None:
        self._subscribers.discard(queue)

    def _replay(self, last_event_id: str | None) -> list[Event]:
        if not last_event_id:
            return []
        boot, _, seq_text = last_event_id.rpartition("-")
        try:
            seq = int(seq_text)
        except ValueError:
            seq = -1
        oldest = self._buffer[0].seq if self._buffer else self._seq + 1
        if boot != self.boot or seq < 0 or seq > self._seq or (seq + 1 < oldest and seq < self._seq):
            return [Event.encode(self.boot, self._seq, RESET, {"reason": "missed events; refetch the job list"})]
        return [event for event in self._buffer if event.seq > seq]

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)
