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
other, even when jobs run side by side in other workers.
"""

from __future__ import annotations

import json
from typing import Any

MARK = "\x1efastvideo-ui:"
BEGIN = MARK + "begin:"
END = MARK + "end:"
TERMINAL = frozenset({"completed", "stopped", "failed"})


def encode(message: dict[str, Any]) -> bytes:
    return (json.dumps(message, separators=(",", ":")) + "\n").encode()


def decode(line: bytes) -> dict[str, Any]:
    message = json.loads(line)
    if not isinstance(message, dict) or "type" not in message:
        raise ValueError(f"not a protocol message: {line[:200]!r}")
    return message


def begin_marker(job_id: str) -> str:
    return f"{BEGIN}{job_id}\n"


def end_marker(job_id: str) -> str:
    return f"{END}{job_id}\n"
