"""A stand-in for the `ray` module, for the bridge's parts that take one
(FileShipper, NodeWatcher, Relay): no cluster, every call answered at once.

`actor.method.remote(*args)` returns a reference that `ray.get` resolves by
running the method then, so a method's exception comes out of `ray.get`, as
with Ray.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

CHUNK_BYTES = 4  # small, so a file comes home in several chunks


class Method:
    def __init__(self, run: Callable[..., Any]) -> None:
        self._run = run

    def remote(self, *args: Any) -> Callable[[], Any]:
        return lambda: self._run(*args)


class FakeActor:
    """A worker's actor on a node whose disk is `node_dir`."""

    def __init__(self, node_dir: Path) -> None:
        self.node_dir = node_dir
        self.answering = True
        self.polls: list[list[dict[str, Any]] | Exception] = []  # what each poll returns (or raises), in turn
        self.received: list[dict[str, Any]] = []
        self.refusing: Exception | None = None  # what `send` raises
        self.closed = False
        self.ping = Method(self._ping)
        self.put_file = Method(self._put_file)
        self.read_chunk = Method(self._read_chunk)
        self.poll = Method(self._poll)
        self.send = Method(self._send)
        self.close = Method(self._close)

    def _ping(self) -> bool:
        if not self.answering:
            raise TimeoutError("no answer")
        return True

    def _put_file(self, name: str, data: bytes) -> str:
        path = self.node_dir / name
        path.write_bytes(data)
        return str(path)

    def _read_chunk(self, path: str, offset: int) -> bytes:
        with open(path, "rb") as file:
            file.seek(offset)
            return file.read(CHUNK_BYTES)

    def _poll(self, wait_s: float) -> list[dict[str, Any]]:
        batch = self.polls.pop(0)
        if isinstance(batch, Exception):
            raise batch
        return batch

    def _send(self, message: dict[str, Any]) -> None:
        if self.refusing is not None:
            raise self.refusing
        self.received.append(message)

    def _close(self) -> None:
        self.closed = True


class _Exceptions:
    class GetTimeoutError(Exception):
        pass

    class ActorUnavailableError(Exception):
        pass


class FakeRay:
    exceptions = _Exceptions

    def __init__(self, nodes: list[dict[str, Any]] | None = None) -> None:
        self.table = nodes or []
        self.killed: list[Any] = []

    def get(self, ref: Callable[[], Any], timeout: float | None = None) -> Any:
        return ref()

    def kill(self, actor: Any, no_restart: bool = True) -> None:
        self.killed.append(actor)

    def nodes(self) -> list[dict[str, Any]]:
        return self.table

    def remote(self, **options: Any) -> Callable[[type], type]:
        return lambda cls: cls


class Outbox:
    """The bridge's link to the server: what it sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def ops(self, op: str) -> list[dict[str, Any]]:
        return [message for message in self.sent if message["op"] == op]


def node(node_id: str, name: str, gpus: int = 2, alive: bool = True) -> dict[str, Any]:
    """One row of ray.nodes()."""
    return {"NodeID": node_id, "NodeName": name, "Alive": alive, "Resources": {"GPU": float(gpus), "CPU": 8.0}}
