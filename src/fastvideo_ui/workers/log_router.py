"""Splits a worker's output into lines and gives each line to its job.

A worker writes BEGIN/END markers (protocol.py) around each job; every line
between them belongs to that job. Local worker processes and Ray actors feed
the same router, so job logs are attributed the same way wherever a job runs.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable

from . import protocol

log = logging.getLogger("fastvideo_ui.workers")

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class LogRouter:
    def __init__(self, nonce: str, on_lines: Callable[[str | None, list[str]], None], name: str) -> None:
        self._mark = protocol.mark(nonce)
        self._on_lines = on_lines  # (job id or None, lines)
        self._name = name  # for warnings: "worker 3"
        self._job: str | None = None
        self._pending = ""
        self._ended: dict[str, asyncio.Event] = {}

    def expect(self, job_id: str) -> None:
        self._ended[job_id] = asyncio.Event()

    async def wait_end(self, job_id: str, timeout: float = 3.0) -> None:
        """Wait until the job's END marker (or the output's end) has been read."""
        ended = self._ended.get(job_id)
        if ended is not None:
            try:
                await asyncio.wait_for(ended.wait(), timeout)
            except asyncio.TimeoutError:
                log.warning("%s: no end-of-log marker for job %s", self._name, job_id)
            self._ended.pop(job_id, None)

    def feed(self, text: str) -> None:
        """More output; a partial last line waits for the rest."""
        pieces = _LINE_BREAK.split(self._pending + text)
        self._pending = pieces.pop()
        self._route(pieces)

    def close(self) -> None:
        """The output ended: what is pending is a line, and the job's log is over."""
        if self._pending:
            self._route([self._pending])
            self._pending = ""
        if self._job is not None:
            self._end(self._job)

    def _route(self, lines: list[str]) -> None:
        batch: list[str] = []
        for line in lines:
            while self._mark in line:
                before, _, rest = line.partition(self._mark)
                if before.strip():
                    batch.append(before)
                kind, _, job_id = rest.partition(":")
                job_id = job_id.strip()
                self._flush(batch)
                batch = []
                if kind == "begin":
                    self._job = job_id
                elif kind == "end":
                    self._end(job_id)
                line = ""
            if line.strip():
                batch.append(line)
        self._flush(batch)

    def _flush(self, batch: list[str]) -> None:
        if batch:
            self._on_lines(self._job, batch)

    def _end(self, job_id: str) -> None:
        self._job = None
        ended = self._ended.get(job_id)
        if ended is not None:
            ended.set()
