"""In-process event bus behind `GET /api/events` (Server-Sent Events).

Ids are `<boot>-<n>`: a client resuming with a Last-Event-ID from this boot gets
the events it missed from the ring buffer; one from an earlier boot, or too old
for the buffer, gets a `reset` event telling it to refetch the job list.

The ring is bounded in bytes as well as in events: a job's event carries its
prompts, and 3,000 of the largest held 731 MB. Each subscriber's backlog is
bounded too, at a quarter of the ring, so that a reader dropped for falling
behind finds what it missed still in the ring when it resumes. Backlogs share
the ring's events, so all of them together add at most that quarter beyond it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import deque
from collections.abc import Iterator
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
        # Characters as UTF-8, not \uXXXX escapes: an astral emoji is 4 bytes, not 12. A lone
        # surrogate (no prompt has one: they are checked as strict UTF-8) cannot be UTF-8, so
        # an event holding one is escaped as before.
        try:
            body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
        except UnicodeEncodeError:
            body = json.dumps(data, separators=(",", ":")).encode()
        return cls(seq, b"id: %s-%d\nevent: %s\ndata: %s\n\n" % (boot.encode(), seq, type_.encode(), body))


# Every event name the stream carries (the web UI listens for these).
CREATED = "created"  # a job, as GET /api/jobs/{id} gives it
UPDATED = "updated"  # a job whose status or fields changed
PROGRESS = "progress"  # a running job's phase, step and ETA
QUEUE = "queue"  # every queued job's position
DELETED = "deleted"  # {"id": ...}
RESET = "reset"  # events were missed: refetch
CLUSTER = "cluster"  # --ray: the cluster's nodes, and whether it is reachable (RayFleet.status)
DOWNLOAD = "download"  # a model's weights being fetched: bytes done and total, rate, ETA


class Subscription:
    """One stream's events not yet sent, bounded in count and in bytes. Past
    either, the reader is dropped: its stream ends, and it resumes from the ring
    with its Last-Event-ID."""

    def __init__(self, max_events: int, max_bytes: int) -> None:
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._max_events = max_events
        self._max_bytes = max_bytes
        self.pending_bytes = 0

    def offer(self, event: Event) -> bool:
        """Queue `event`; False (and the stream told to end) when it would not fit."""
        if self._queue.qsize() >= self._max_events or self.pending_bytes + len(event.frame) > self._max_bytes:
            self.close()
            return False
        self._queue.put_nowait(event)
        self.pending_bytes += len(event.frame)
        return True

    def close(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()
        self.pending_bytes = 0
        self._queue.put_nowait(None)  # tells the stream to close

    async def get(self) -> Event | None:
        """The next event, or None when the stream is to end."""
        event = await self._queue.get()
        if event is not None:
            self.pending_bytes -= len(event.frame)
        return event


class EventBus:
    def __init__(self, capacity: int = 10000, subscriber_queue: int = 2000,
                 replay_bytes: int = 64 * 1024 * 1024) -> None:
        self.boot = uuid.uuid4().hex[:12]
        self._seq = 0
        self._buffer: deque[Event] = deque()
        self._buffer_bytes = 0
        self._capacity = capacity
        self._replay_bytes = replay_bytes
        self._subscribers: set[Subscription] = set()
        self._queue_size = subscriber_queue

    def publish(self, type_: str, data: dict[str, Any]) -> None:
        """Call from the event loop thread."""
        self._seq += 1
        event = Event.encode(self.boot, self._seq, type_, data)
        self._buffer.append(event)
        self._buffer_bytes += len(event.frame)
        while self._buffer and (len(self._buffer) > self._capacity or self._buffer_bytes > self._replay_bytes):
            self._buffer_bytes -= len(self._buffer.popleft().frame)
        for subscription in list(self._subscribers):
            if not subscription.offer(event):
                # A reader this far behind is dropped; it reconnects with
                # Last-Event-ID and catches up from the buffer.
                self._subscribers.discard(subscription)

    def subscribe(self, last_event_id: str | None) -> tuple[Iterator[Event], Subscription]:
        """Events to replay first, and a subscription to the ones after them.
        The replay reads the ring as it goes, holding nothing of its own: a
        reader that falls past the ring's start in the middle of it gets a
        reset there, and the live events after."""
        subscription = Subscription(self._queue_size, self._replay_bytes // 4)
        self._subscribers.add(subscription)
        return self._replay(last_event_id), subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    def _reset(self, seq: int) -> Event:
        return Event.encode(self.boot, seq, RESET, {"reason": "missed events; refetch the job list"})

    def _replay(self, last_event_id: str | None) -> Iterator[Event]:
        if not last_event_id:
            return iter(())
        boot, _, seq_text = last_event_id.rpartition("-")
        try:
            seq = int(seq_text)
        except ValueError:
            seq = -1
        oldest = self._buffer[0].seq if self._buffer else self._seq + 1
        if boot != self.boot or seq < 0 or seq > self._seq or (seq + 1 < oldest and seq < self._seq):
            return iter((self._reset(self._seq),))
        return self._events_between(seq, self._seq)

    def _events_between(self, after: int, last: int) -> Iterator[Event]:
        """Events after..last from the ring, looked up one at a time (their seqs
        are consecutive in it); the later ones come through the subscription."""
        for seq in range(after + 1, last + 1):
            oldest = self._buffer[0].seq if self._buffer else self._seq + 1
            if seq < oldest:
                yield self._reset(last)  # evicted while this reader was behind: refetch, then go on live
                return
            yield self._buffer[seq - oldest]

    @property
    def replay_bytes_held(self) -> int:
        return self._buffer_bytes

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)
