"""Errors, operating-system ones above all, put in words a user can act on (shared by server and workers)."""

from __future__ import annotations

import errno
import os
import signal

_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def describe_error(exc: BaseException) -> str:
    """An exception in one line, its type first: "TimeoutError: no answer"."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def describe_no_space(exc: BaseException, path: object = None) -> str | None:
    """The disk (or a quota, or a file-size limit) is full: say so plainly,
    whatever library the write failed in; None for any other error. `path` names
    the file when the error does not (os.write's does not)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _NO_SPACE:
            filename = current.filename or path
            where = f" writing {filename}" if filename else ""
            reason = current.strerror or os.strerror(current.errno)
            return (f"No space left{where} ({reason}); free some space in the output or log directory "
                    f"and run the job again")
        current = current.__cause__ or current.__context__
    return None


def describe_exit(returncode: int, oom_hint: bool = True) -> str:
    """`-9` -> "killed by SIGKILL (9) (out of memory?)": an unasked-for SIGKILL
    is most often the kernel's OOM killer. Pass oom_hint=False when we sent it."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        hint = " (out of memory?)" if oom_hint and -returncode == signal.SIGKILL else ""
        return f"killed by {name} ({-returncode}){hint}"
    return f"exited with code {returncode}"
