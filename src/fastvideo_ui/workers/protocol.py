"""The worker protocol: JSON lines over a socketpair, and log markers on stdout.

Server -> worker: {"type": "run", "job": {...}, "model": {...}}, {"type": "stop"},
{"type": "shutdown"}.
Worker -> server: {"type": "ready"}, {"type": "loaded", "model": {...}},
{"type": "phase", "phase": ...}, {"type": "progress", "step": i, "total": n},
and one terminal message per run: "completed" (video_path, poster_path),
"stopped", or "failed" (error).

The worker's stdout and stderr, which its child processes inherit, are one pipe
that the server reads. The worker writes BEGIN/END markers on that pipe around
each job, so every byte between them is attributed to that job's log and to no
other, even when jobs run side by side in other workers. A marker carries a
random nonce the server gives each worker (FASTVIDEO_UI_LOG_NONCE, removed from
the worker's environment at start): job output, such as FastVideo echoing a
prompt, cannot know it, so it cannot forge a marker.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

NONCE_ENV = "FASTVIDEO_UI_LOG_NONCE"
TERMINAL = frozenset({"completed", "stopped", "failed"})


def encode(message: dict[str, Any]) -> bytes:
    return (json.dumps(message, separators=(",", ":")) + "\n").encode()


def decode(line: bytes) -> dict[str, Any]:
    message = json.loads(line)
    if not isinstance(message, dict) or "type" not in message:
        raise ValueError(f"not a protocol message: {line[:200]!r}")
    return message


@dataclass(frozen=True)
class Completed:
    video_path: str
    poster_path: str | None


@dataclass(frozen=True)
class Failed:
    error: str


@dataclass(frozen=True)
class Stopped:
    pass


@dataclass(frozen=True)
class Crashed:
    """The worker process ended before its job did."""

    returncode: int
    lost: str | None = None  # it was lost with its node or cluster, not by its own doing: why


Outcome = Completed | Failed | Stopped | Crashed


def decode_outcome(message: dict[str, Any]) -> Outcome:
    """A worker's terminal message (one of TERMINAL), typed."""
    kind = message["type"]
    if kind == "completed":
        return Completed(str(message["video_path"]), message.get("poster_path"))
    if kind == "stopped":
        return Stopped()
    if kind == "failed":
        return Failed(str(message.get("error") or "failed"))
    raise ValueError(f"not a terminal message: {kind!r}")


def new_nonce() -> str:
    return secrets.token_hex(16)


def mark(nonce: str) -> str:
    """What starts every marker of the worker holding `nonce`."""
    return f"\x1efastvideo-ui:{nonce}:"


def begin_marker(nonce: str, job_id: str) -> str:
    return f"{mark(nonce)}begin:{job_id}\n"


def end_marker(nonce: str, job_id: str) -> str:
    return f"{mark(nonce)}end:{job_id}\n"
