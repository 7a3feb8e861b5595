"""Posts queued webhook deliveries: from a task of its own, so a slow or dead
receiver never holds up the scheduler, and from the database, so a delivery
queued before a restart (or a crash) is still sent after it."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from collections import Counter
from collections.abc import Iterable
from contextlib import closing
from contextvars import ContextVar
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import httpcore

from ..database.tables import JobRow
from ..urls import redacted, split_credentials
from . import signing
from .store import DELIVERED, FAILED, PENDING, Due, WebhookStore
from .targets import TargetPolicy, TargetRefused, receiver_at, target_of

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
# How long a name's checked address is reused: a delivery put back while its
# receiver is busy comes round every second, and need not resolve each time.
RESOLVED_TTL_S = 5.0
RESOLVED_KEPT = 1024

# The (host, port, address) a delivery resolved, checked and took its
# receiver's slot for: its connection goes there, not to a second resolution
# of the name, which could give another address than the one counted.
_PINNED: ContextVar[tuple[str, int, str] | None] = ContextVar("fastvideo_ui_webhook_address", default=None)


class UnresolvedName(httpcore.ConnectError):
    """The receiver's name has no address (or the resolver failed)."""


class CheckedNetwork(httpcore.AsyncNetworkBackend):
    """httpcore's own network, except that a name is resolved here, every
    address it gives is checked (TargetPolicy.address_problem), and the
    connection goes to a checked address. TLS still verifies the certificate
    against the name in the URL."""

    def __init__(self, policy: TargetPolicy) -> None:
        self.policy = policy
        self._inner = httpcore.AnyIOBackend()
        self._resolved: dict[tuple[str, int], tuple[float, str]] = {}  # (host, port): (until, checked address)

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        pinned = _PINNED.get()
        address = pinned[2] if pinned and pinned[:2] == (host, port) else await self.checked_address(host, port)
        return await self._inner.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                             socket_options=socket_options)

    async def checked_address(self, host: str, port: int) -> str:
        """The address to connect to for this name: checked, every one it
        resolves to, and reused for a few seconds."""
        now = time.monotonic()
        until, address = self._resolved.get((host, port), (0.0, ""))
        if until > now:
            return address
        address = await self._resolve_and_check(host, port)
        if len(self._resolved) >= RESOLVED_KEPT:
            self._resolved = {key: kept for key, kept in self._resolved.items() if kept[0] > now}
        if len(self._resolved) < RESOLVED_KEPT:
            self._resolved[(host, port)] = (now + RESOLVED_TTL_S, address)
        return address

    async def _resolve_and_check(self, host: str, port: int) -> str:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise UnresolvedName(f"cannot resolve {host}: {exc.strerror}") from None
        addresses = [str(info[4][0]) for info in infos]
        if not addresses:
            raise httpcore.ConnectError(f"{host} has no address")
        for address in addresses:  # every one: a name that also resolves locally is refused outright
            problem = self.policy.address_problem(address)
            if problem:
                raise TargetRefused(f"{host} resolves to {problem}")
        return addresses[0]

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                                  ) -> httpcore.AsyncNetworkStream:
        raise TargetRefused("webhooks are not posted to Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _describe(exc: BaseException) -> str:
    """One line: the innermost OS error says more ("Connection refused") than
    the wrappers around it ("All connection attempts failed")."""
    if isinstance(exc, httpcore.TimeoutException):
        return f"timed out ({exc or type(exc).__name__})"
    if isinstance(exc, UnresolvedName):  # its context's errno is the resolver's own (-2): "Unknown error -2"
        return str(exc)
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno:
            return f"cannot connect: {os.strerror(cause.errno)}"
        cause = cause.__cause__ or cause.__context__
    return str(exc) or type(exc).__name__


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
        self._network = CheckedNetwork(policy)
        self._pool = httpcore.AsyncConnectionPool(network_backend=self._network, retries=0,
                                                  max_connections=CONCURRENT_POSTS, keepalive_expiry=5.0)
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
        await self._pool.aclose()

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
        except httpcore.UnsupportedProtocol as exc:
            error, final = _describe(exc), True
        except asyncio.TimeoutError:
            error = f"timed out: no whole answer within {self.timeout_s:g} s (--webhook-timeout)"
        except Exception as exc:  # noqa: BLE001 - connection refused, reset, timed out, bad answer: try again later
            error = _describe(exc)
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
        address = await self._network.checked_address(host, port)
        receiver = receiver_at(address, port)
        if self._posting[receiver] >= self.posts_per_target:
            raise ReceiverBusy(receiver)
        self._posting[receiver] += 1
        pinned = _PINNED.set((host, port, address))
        try:
            return await self._post_to(due, url, authorization)
        finally:
            _PINNED.reset(pinned)
            self._posting[receiver] -= 1
            if not self._posting[receiver]:
                del self._posting[receiver]

    async def _post_to(self, due: Due, url: str, authorization: str | None) -> int:
        body = due.payload.encode()
        headers = {"content-type": "application/json", "user-agent": "fastvideo-ui-webhooks",
                   **signing.headers(self.secret, due.id, int(time.time()), body)}
        if authorization:
            headers["authorization"] = authorization
        timeout = dict.fromkeys(("connect", "read", "write", "pool"), self.timeout_s)
        async with self._pool.stream("POST", url, headers=list(headers.items()), content=body,
                                     extensions={"timeout": timeout}) as response:
            read = 0
            async for chunk in response.aiter_stream():  # a little of the answer, then hang up
                read += len(chunk)
                if read >= RESPONSE_BYTES_READ:
                    break
            return response.status
