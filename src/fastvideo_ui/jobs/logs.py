"""Per-job log files with a line index, so `?after=N` is a seek, not a scan."""

from __future__ import annotations

import os
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path

_CHUNK = 1 << 20


@dataclass
class _LineIndex:
    # offsets[i] is where line i starts; complete lines only
    offsets: array = field(default_factory=lambda: array("Q"))
    indexed_to: int = 0  # bytes scanned so far, always just after a newline


class LogBook:
    """Owns `{log_dir}/{job_id}.log`. The server process is the only writer."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._indexes: dict[str, _LineIndex] = {}

    def path(self, job_id: str) -> Path:
        return self.log_dir / f"{job_id}.log"

    def append_lines(self, job_id: str, lines: list[str]) -> None:
        if not lines:
            return
        data = "".join(line.replace("\n", " ") + "\n" for line in lines)
        with open(self.path(job_id), "a", encoding="utf-8", errors="replace") as handle:
            handle.write(data)

    def server_line(self, job_id: str, message: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        self.append_lines(job_id, [f"[fastvideo-ui {stamp}] {message}"])

    def read(self, job_id: str, after: int = 0, limit: int | None = None) -> tuple[list[str], int]:
        """Lines `after`, `after+1`, ... (up to `limit`) and the total line count."""
        path = self.path(job_id)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return [], 0
        index = self._indexes.setdefault(job_id, _LineIndex())
        if size < index.indexed_to:  # truncated or replaced: start over
            index = self._indexes[job_id] = _LineIndex()
        with open(path, "rb") as handle:
            self._extend_index(handle, index, size)
            total = len(index.offsets)
            if after >= total:
                return [], total
            end_line = total if limit is None else min(total, after + limit)
            start = index.offsets[after]
            stop = index.offsets[end_line] if end_line < total else index.indexed_to
            handle.seek(start)
            data = handle.read(stop - start)
        return data.decode("utf-8", errors="replace").splitlines(), total

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
        self._indexes.pop(job_id, None)
        try:
            os.unlink(self.path(job_id))
        except FileNotFoundError:
            pass
