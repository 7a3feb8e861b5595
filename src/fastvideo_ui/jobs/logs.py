"""Per-job log files with a line index, so `?after=N` is a seek, not a scan."""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path

from ..oserrors import describe_no_space

_CHUNK = 1 << 20
# A log is a plain file in the log directory, never a symlink to somewhere else.
_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
_READ = os.O_RDONLY | os.O_NOFOLLOW

log = logging.getLogger("fastvideo_ui.logs")


@dataclass
class _LineIndex:
    # offsets[i] is where line i starts; complete lines only
    offsets: array = field(default_factory=lambda: array("Q"))
    indexed_to: int = 0  # bytes scanned so far, always just after a newline
    # Reads run in the thread pool: two extending one index at once would each
    # append the same lines (two tabs on one log were enough).
    lock: threading.Lock = field(default_factory=threading.Lock)


class LogBook:
    """Owns `{log_dir}/{job_id}.log`. The server process is the only writer."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._indexes: dict[str, _LineIndex] = {}
        self._indexes_lock = threading.Lock()
        self._write_errors: dict[str, str] = {}
        self._held: dict[str, int] = {}  # a running job's log, open (hold_open)

    def path(self, job_id: str) -> Path:
        return self.log_dir / f"{job_id}.log"

    def hold_open(self, job_id: str) -> None:
        """Keep the job's log open while it runs: a worker's output comes a line
        or two at a time, and opening the file for each cost more than writing."""
        if job_id not in self._held:
            try:
                self._held[job_id] = os.open(self.path(job_id), _APPEND, 0o644)
            except OSError:
                pass  # each write opens it, and says why it cannot

    def release(self, job_id: str) -> None:
        fd = self._held.pop(job_id, None)
        if fd is not None:
            os.close(fd)

    def append_lines(self, job_id: str, lines: list[str]) -> None:
        if not lines:
            return
        data = "".join(line.replace("\n", " ") + "\n" for line in lines).encode("utf-8", errors="replace")
        try:
            held = self._held.get(job_id)
            fd = held if held is not None else os.open(self.path(job_id), _APPEND, 0o644)
            try:
                view = memoryview(data)
                while view:  # a nearly full disk can take part of a write
                    view = view[os.write(fd, view):]
            finally:
                if held is None:
                    os.close(fd)
        except OSError as exc:
            # Callers are event handlers that must go on (a full disk must not
            # take the server down); the scheduler asks write_error() and fails
            # the job.
            if job_id not in self._write_errors:
                log.warning("job %s: cannot write its log: %s", job_id, exc)
            self._write_errors[job_id] = (describe_no_space(exc, self.path(job_id))
                                          or f"cannot write the job's log: {exc}")

    def write_error(self, job_id: str) -> str | None:
        """Why the last write to this job's log failed, until reset_write_error()."""
        return self._write_errors.get(job_id)

    def reset_write_error(self, job_id: str) -> None:
        self._write_errors.pop(job_id, None)

    def server_line(self, job_id: str, message: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        self.append_lines(job_id, [f"[fastvideo-ui {stamp}] {message}"])

    def read(self, job_id: str, after: int = 0, limit: int | None = None) -> tuple[list[str], int]:
        """Lines `after`, `after+1`, ... (up to `limit`) and the total line count."""
        try:
            fd = os.open(self.path(job_id), _READ)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ELOOP):  # none yet, or a planted symlink
                return [], 0
            raise
        with open(fd, "rb") as handle:
            size = os.fstat(fd).st_size
            with self._indexes_lock:
                index = self._indexes.setdefault(job_id, _LineIndex())
            with index.lock:
                if size < index.indexed_to:  # truncated or replaced: start over
                    index.offsets, index.indexed_to = array("Q"), 0
                self._extend_index(handle, index, size)
                total = len(index.offsets)
                if after >= total:
                    return [], total
                end_line = total if limit is None else min(total, after + limit)
                start = index.offsets[after]
                stop = index.offsets[end_line] if end_line < total else index.indexed_to
            handle.seek(start)
            data = handle.read(stop - start)
        # "\n" only, as the index counts lines: splitlines() also breaks at \r,
        # \x1c-\x1e, \x85, U+2028 and U+2029, which a line may hold. The data
        # ends with a "\n", hence the empty last part.
        return data.decode("utf-8", errors="replace").split("\n")[:-1], total

    @staticmethod
    def _extend_index(handle, index: _LineIndex, size: int) -> None:  # type: ignore[no-untyped-def]
        position = index.indexed_to
        handle.seek(position)
        line_start = position
        while position < size:
            chunk = handle.read(min(_CHUNK, size - position))
            if not chunk:
                break
            cursor = 0
            while True:
                newline = chunk.find(b"\n", cursor)
                if newline < 0:
                    break
                index.offsets.append(line_start)
                line_start = position + newline + 1
                cursor = newline + 1
            position += len(chunk)
        index.indexed_to = line_start

    def remove(self, job_id: str) -> None:
        self.release(job_id)
        with self._indexes_lock:
            self._indexes.pop(job_id, None)
        self._write_errors.pop(job_id, None)
        try:
            os.unlink(self.path(job_id))
        except FileNotFoundError:
            pass
