"""The worker protocol: JSON lines over a socketpair, and log markers on stdout.

Server -> worker: a run (RunJob, encoded: {"type": "run", "run_id", "backend",
"model", "job_id", "params", the output and poster paths, the path of each
upload the job names, by field, and each `resolve` field's value as the server
resolved it, by field}),
{"type": "stop", "run_id"}, {"type": "shutdown"}, and, before any run,
{"type": "prepare", "backend", "registry": bool}: build the backend and import
its library now; with "registry", read the library's models once no run waits.
Worker -> server: {"type": "ready"}, {"type": "prepared", "backend", "ok",
"seconds"}, {"type": "registry", "models": [...] or null, "error"?},
{"type": "loaded", "model": {...}},
{"type": "progress"} with what changed since the last: "phase", and "step",
"total" and "elapsed" (seconds since its phase began), at most one every
0.1 s (workers/main.JobReporter),
{"type": "warning", "text": ...},
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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..backends.base import ModelConfig
from ..spec.fields import FIELDS, UPLOADS, JobParams
from ..spec.rules import WireError, from_wire, to_wire

NONCE_ENV = "FASTVIDEO_UI_LOG_NONCE"
TERMINAL = frozenset({"completed", "stopped", "failed"})


def encode(message: dict[str, Any]) -> bytes:
    return (json.dumps(message, separators=(",", ":")) + "\n").encode()


def decode(line: bytes) -> dict[str, Any]:
    message = json.loads(line)
    if not isinstance(message, dict) or "type" not in message:
        raise ValueError(f"not a protocol message: {line[:200]!r}")
    return message


class BadMessage(ValueError):
    """A run message the worker cannot act on: says which part is wrong."""


@dataclass(frozen=True)
class RunJob:
    """One run of a job, as the server hands it to a worker. The job's values
    travel as the spec's wire form: every field but the secrets (a webhook URL
    is the server's business, never a worker's)."""

    run_id: str  # the job id and attempt: a rerun is a new run
    backend: str
    model: ModelConfig
    job_id: str
    params: JobParams
    output_path: Path
    poster_path: Path
    uploads: Mapping[str, Path] = field(default_factory=dict)  # an upload field's file, by field name
    resolved: Mapping[str, Any] = field(default_factory=dict)  # a `resolve` field's resolved value, by name

    def encode(self) -> dict[str, Any]:
        """The message (a JSON object; `encode` below makes it a line)."""
        return {"type": "run", "run_id": self.run_id, "backend": self.backend, "model": self.model.as_json(),
                "job_id": self.job_id, "params": to_wire(self.params), "output_path": str(self.output_path),
                "poster_path": str(self.poster_path),
                "uploads": {name: str(path) for name, path in self.uploads.items()}, "resolved": dict(self.resolved)}

    @classmethod
    def decode(cls, message: Mapping[str, Any]) -> RunJob:
        """The message typed, or BadMessage naming what is wrong with it."""
        try:
            return cls(run_id=_text(message, "run_id"), backend=_text(message, "backend"),
                       model=ModelConfig.from_json(message["model"]), job_id=_text(message, "job_id"),
                       params=from_wire(message["params"]), output_path=Path(_text(message, "output_path")),
                       poster_path=Path(_text(message, "poster_path")),
                       uploads=_uploads(message["uploads"]), resolved=_resolved(message["resolved"]))
        except KeyError as exc:
            raise BadMessage(f"a run message without {exc}") from None
        except (WireError, ValueError, TypeError) as exc:
            raise BadMessage(f"a bad run message: {exc}") from None


_UPLOAD_NAMES = frozenset(f.name for f in UPLOADS)


def _uploads(given: Any) -> dict[str, Path]:
    if not isinstance(given, dict) or not given.keys() <= _UPLOAD_NAMES:
        raise ValueError(f"uploads is {given!r}, not an object of upload fields ({sorted(_UPLOAD_NAMES)})")
    return {name: Path(_text(given, name)) for name in given}


_RESOLVED_NAMES = frozenset(f.name for f in FIELDS if f.resolve)


def _resolved(given: Any) -> dict[str, Any]:
    if not isinstance(given, dict) or not given.keys() <= _RESOLVED_NAMES:
        raise ValueError(f"resolved is {given!r}, not an object of resolved fields ({sorted(_RESOLVED_NAMES)})")
    return dict(given)


def _text(message: Mapping[str, Any], key: str) -> str:
    value = message[key]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} is {value!r}, not a non-empty string")
    return value


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
