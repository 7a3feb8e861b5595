"""Posts queued webhook deliveries: from a task of its own, so a slow or dead
receiver never holds up the scheduler, and from the database, so a delivery
queued before a restart (or a crash) is still sent after it."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from contextlib import closing
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..database.tables import JobRow
from ..urls import redacted, split_credentials
from . import signing
from .store import DELIVERED, FAILED, PENDING, Due, WebhookStore
from .targets import TargetPolicy, TargetRefused, receiver_at, target_of

if TYPE_CHECKING:
    from .network import Http

log = logging.getLogger("fastvideo_ui.webhooks")

# A job's status, as the event it is posted as.
EVENTS = {"running": "started", "completed": "completed", "failed": "failed", "stopped": "stopped"}
CONCURRENT_POSTS = 8
POST_TIMEOUT_S = 10.0  # the whole post, connect to last byte (--webhook-timeout)
POSTS_PER_TARGET = 2  # in flight at once to one receiver, targets.receiver_at (--webhook-posts-per-target)
RESPONSE_BYTES_READ = 64 * 1024
# A delivery whose receiver has every slot it may have goes back to the queue,
# unattempted, for this long: its slot serves another receiver meanwhile.
BUSY_RECEIVER_RETRY_S = 1.0
class ReceiverBusy(Exception):
    """The address a delivery resolved to has every slot it may have."""


class WebhookSender:
    def __init__(self, store: WebhookStore, secret: str, default_url: str | None, attempts: int, backoff_s: float,
                 policy: TargetPolicy, timeout_s: float = POST_TIMEOUT_S,
                 posts_per_target: int = POSTS_PER_TARGET) -> None:
        self.store = store
        self.secret = secret
        self.default_url = default_url
        self.max_attempts = attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.posts_per_target = posts_per_target
        self._policy = policy
        self._http: Http | None = None  # made at the first post (_client)
        self._wake = asyncio.Event()
        self._in_flight: dict[str, tuple[str, asyncio.Task[None]]] = {}  # delivery id: (its target, its post)
        self._posting: Counter[str] = Counter()  # posts under way to each receiver (targets.receiver_at)
        self._task: asyncio.Task[None] | None = None

    # -- queueing (on the event loop, from the scheduler's job events) -----------

    def observe(self, row: JobRow, job: dict[str, Any]) -> None:
        """Queue the event this job change is, if it is one and has a URL. The
        URL is the stored one: the job's JSON shows it redacted."""
        event = EVENTS.get(job["status"])
        url = row.webhook_url or self.default_url
        if event is None or not url:
            return
        delivery_id = f"{job['id']}:{event}:{job['attempts']}"
        now = time.time()
        payload = json.dumps({"id": delivery_id, "object": "event", "type": f"job.{event}",
                              "created_at": int(now), "data": job}, separators=(",", ":"))
        try:
            queued = self.store.add(delivery_id, job["id"], event, url, payload, now)
        except Exception:  # noqa: BLE001 - a webhook must never break the job event it rides on
            log.exception("could not queue webhook %s", delivery_id)
            return
        if queued:
            self._wake.set()

    # -- sending --------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-sender")

    async def close(self) -> None:
        tasks = [task for task in (self._task, *(post for _, post in self._in_flight.values())) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()

    def _client(self) -> Http:
        if self._http is None:
            # httpcore comes with the first post: a server that sends no webhooks never imports it
            # (14 ms of every start).
            from .network import Http

            self._http = Http(self._policy, CONCURRENT_POSTS)
        return self._http

    async def _run(self) -> None:
        while True:
            try:
                wait = self._start_due()
            except Exception:  # noqa: BLE001 - the loop must outlive one bad pass (a locked database, say)
                log.exception("webhook pass failed")
                wait = 5.0
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
            except asyncio.TimeoutError:
                pass

    def _start_due(self) -> float | None:
        """Start every due delivery there is room for, at most posts_per_target
        to one receiver, so a slow one cannot take every slot: the deliveries
        to a busy receiver wait their turn and others pass them. The URL's
        spelling is a first filter here; the address it resolves to is what
        holds (_post). Returns how long until the next delivery that could
        start is due (None: until a post ends or one is queued)."""
        now = time.time()
        room = CONCURRENT_POSTS - len(self._in_flight)
        if room <= 0:
            return None
        busy = Counter(target for target, _ in self._in_flight.values())
        chosen: list[tuple[str, str]] = []
        next_at: float | None = None
        with closing(self.store.pending()) as pending:
            for delivery_id, url, at in pending:
                target = target_of(url)
                if delivery_id in self._in_flight or busy[target] >= self.posts_per_target:
                    continue
                if at > now:
                    next_at = at
                    break
                chosen.append((delivery_id, target))
                busy[target] += 1
                room -= 1
                if room == 0:
                    break
        targets = dict(chosen)
        for due in self.store.load([delivery_id for delivery_id, _ in chosen]):
            task = asyncio.create_task(self._deliver(due), name=f"webhook {due.id}")
            self._in_flight[due.id] = (targets[due.id], task)
            task.add_done_callback(partial(self._finished, due.id))
        return None if next_at is None else max(0.0, next_at - now)

    def _finished(self, delivery_id: str, _task: asyncio.Task[None]) -> None:
        self._in_flight.pop(delivery_id, None)
        self._wake.set()

    async def _deliver(self, due: Due) -> None:
        number = due.attempts + 1
        started = time.time()
        status_code: int | None = None
        final = False
        try:
            # One deadline for the whole post: httpcore's own timeouts are per read, which a receiver that
            # trickles its answer a byte at a time never trips.
            status_code = await asyncio.wait_for(self._post(due), self.timeout_s)
            error = None if 200 <= status_code < 300 else f"HTTP {status_code}" + (
                " (redirects are not followed)" if 300 <= status_code < 400 else "")
        except ReceiverBusy:  # not an attempt: back in the queue, its slot free for another receiver
            self.store.postpone(due.id, time.time() + BUSY_RECEIVER_RETRY_S)
            return
        except TargetRefused as exc:
            error, final = str(exc), True  # refused by policy: trying again cannot help
        except asyncio.TimeoutError:
            error = f"timed out: no whole answer within {self.timeout_s:g} s (--webhook-timeout)"
        except Exception as exc:  # noqa: BLE001 - connection refused, reset, timed out, bad answer: try again later
            from .network import describe, unsupported

            error, final = describe(exc), unsupported(exc)  # an unsupported scheme: trying again cannot help
        duration_ms = (time.time() - started) * 1000
        if error is None:
            status, next_at = DELIVERED, None
        elif final or number >= self.max_attempts:
            status, next_at = FAILED, None
        else:
            status, next_at = PENDING, time.time() + self.backoff_s * 2 ** (number - 1)
        if error:
            log.warning("webhook %s to %s, attempt %d of %d: %s%s", due.id, redacted(due.url), number,
                        self.max_attempts, error, "" if status == PENDING else " (giving up)")
        self.store.record(due.id, number, started, duration_ms, status_code, error, status, next_at)

    async def _post(self, due: Due) -> int:
        url, authorization = split_credentials(due.url)
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
        http = self._client()
        address = await http.network.checked_address(host, port)
        receiver = receiver_at(address, port)
        if self._posting[receiver] >= self.posts_per_target:
            raise ReceiverBusy(receiver)
        self._posting[receiver] += 1
        try:
            with http.pinned(host, port, address):
                return await self._post_to(http, due, url, authorization)
        finally:
            self._posting[receiver] -= 1
            if not self._posting[receiver]:
                del self._posting[receiver]

    async def _post_to(self, http: Http, due: Due, url: str, authorization: str | None) -> int:
        body = due.payload.encode()
        headers = {"content-type": "application/json", "user-agent": "fastvideo-ui-webhooks",
                   **signing.headers(self.secret, due.id, int(time.time()), body)}
        if authorization:
            headers["authorization"] = authorization
        timeout = dict.fromkeys(("connect", "read", "write", "pool"), self.timeout_s)
        async with http.pool.stream("POST", url, headers=list(headers.items()), content=body,
                                    extensions={"timeout": timeout}) as response:
            read = 0
            async for chunk in response.aiter_stream():  # a little of the answer, then hang up
                read += len(chunk)
                if read >= RESPONSE_BYTES_READ:
                    break
            return response.status
