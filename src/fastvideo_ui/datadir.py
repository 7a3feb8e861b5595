"""One server per data directory.

Two servers on one data dir would each recover the other's running jobs as
crashed, orphan their videos, and hand the same GPUs out twice. The first
holds an exclusive lock on `DATA_DIR/server.lock` (with its pid written in it)
for as long as it runs; the kernel drops the lock when the process ends, even
by kill -9, so a stale file never blocks a restart.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class DataDirBusy(Exception):
    def __init__(self, data_dir: Path, pid: str) -> None:
        super().__init__(f"another fastvideo-ui server (pid {pid or 'unknown'}) is using {data_dir}: "
                         f"stop it first, or give this one its own --data-dir")


class DataDirLock:
    def __init__(self, fd: int) -> None:
        self._fd = fd

    @classmethod
    def acquire(cls, data_dir: Path) -> "DataDirLock":
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / "server.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise DataDirBusy(data_dir, holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(fd)

    def release(self) -> None:
        os.close(self._fd)
