"""FastVideo's log format (fastvideo/logger.py: _FORMAT, _DATE_FORMAT)."""

from __future__ import annotations

import sys
import time


def log(message: str, filename: str = "video_generator.py", lineno: int = 1, stream=None) -> None:  # type: ignore[no-untyped-def]
    now = time.time()
    stamp = time.strftime("%m-%d %H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"
    print(f"INFO {stamp} [{filename}:{lineno}] {message}", file=stream or sys.stdout, flush=True)
