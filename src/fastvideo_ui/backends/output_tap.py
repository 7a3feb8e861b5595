"""Route this process's stdout and stderr, and so every child's, through a
pipe read by a thread here: the text still reaches the server's log pipe,
and a parser sees it on the way. FastVideo's GPU workers inherit fds 1 and 2,
so their tqdm bars pass through the tap."""

from __future__ import annotations

import codecs
import os
import sys
import threading
from collections.abc import Callable

_DRAIN = b"\x00fastvideo-ui-drain\x00"


class OutputTap:
    def __init__(self, on_text: Callable[[str], None]) -> None:
        self.on_text = on_text
        sys.stdout.flush()
        sys.stderr.flush()
        self._out = os.dup(1)  # where the text really goes: the server's pipe
        read_end, write_end = os.pipe()
        os.dup2(write_end, 1)
        os.dup2(write_end, 2)
        os.close(write_end)
        self._read = read_end
        self._drained = threading.Event()
        self._line_open = False
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        threading.Thread(target=self._pump, name="output-tap", daemon=True).start()

    def _forward(self, data: bytes) -> None:
        if not data:
            return
        view = memoryview(data)
        while view:
            written = os.write(self._out, view)
            view = view[written:]
        self._line_open = data[-1:] not in (b"\n", b"\r")
        try:
            self.on_text(self._decoder.decode(data))
        except Exception:  # noqa: BLE001 - progress is best effort; the log must flow
            pass

    def _pump(self) -> None:
        held = b""
        while True:
            try:
                chunk = os.read(self._read, 65536)
            except OSError:
                return
            if not chunk:
                return
            data = held + chunk
            held = b""
            while _DRAIN in data:
                before, _, data = data.partition(_DRAIN)
                self._forward(before)
                if self._line_open:
                    self._forward(b"\n")  # the END marker must start its own line
                self._drained.set()
            # Keep back a tail that may be the start of a drain token.
            for size in range(min(len(_DRAIN) - 1, len(data)), 0, -1):
                if _DRAIN.startswith(data[-size:]):
                    held, data = data[-size:], data[:-size]
                    break
            self._forward(data)

    def drain(self, timeout: float = 10.0) -> None:
        """Return once everything written so far has been forwarded."""
        sys.stdout.flush()
        sys.stderr.flush()
        self._drained.clear()
        os.write(1, _DRAIN)
        self._drained.wait(timeout)
