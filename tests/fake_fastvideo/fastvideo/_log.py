"""FastVideo's log format (fastvideo/logger.py: _FORMAT, _DATE_FORMAT), on stdout as FastVideo's is."""

from __future__ import annotations

import sys
import time


def log(message: str, filename: str = "video_generator.py", lineno: int = 1, stream=None,  # type: ignore[no-untyped-def]
        level: str = "INFO") -> None:
    now = time.time()
    stamp = time.strftime("%m-%d %H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"
    # As FastVideo's NewLineFormatter does, the head starts every line of a multi-line message.
    head = f"{level} {stamp} [{filename}:{lineno}] "
    print(head + message.replace("\n", "\r\n" + head), file=stream or sys.stdout, flush=True)
