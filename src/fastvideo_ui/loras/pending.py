"""One LoRA on its way into the library: written to a temporary file inside
the library's directory as it arrives, hashed and checked as it goes, and
moved under its name only once the whole file has proved to be safetensors
within the size limit. Whatever ends it otherwise (a refusal, an error, a
client gone mid-upload) removes the temporary file: no half-written LoRA is
ever kept, nor listed (the temporary name starts with a dot)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .names import LoraRefused
from .safetensors_header import Header, HeaderCheck, NotSafetensors

TEMP_PREFIX = ".upload-"
TEMP_SUFFIX = ".part"


class PendingLora:
    """Bytes for the library's `name`. `write` them in order, then `finish`;
    `abort` (or leaving the `with` block before `finish`) throws them away."""

    def __init__(self, directory: Path, name: str, max_bytes: int) -> None:
        self.name = name
        self.max_bytes = max_bytes
        self.size = 0
        self._hash = hashlib.sha256()
        self._check = HeaderCheck()
        fd, temp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=directory)
        self.temp = Path(temp)
        self._file = os.fdopen(fd, "wb", buffering=0)  # a batch goes straight to the kernel: nothing to flush
        self.done = False

    @property
    def header_read(self) -> bool:
        """Whether the header has arrived and passed: until it has, each byte may be the one refused."""
        return self._check.header is not None

    def __enter__(self) -> PendingLora:
        return self

    def __exit__(self, *_exc: object) -> None:
        if not self.done:
            self.abort()

    def write(self, data: bytes) -> None:
        """The next bytes; LoraRefused (the file is thrown away) as soon as they
        cannot be a safetensors file, or pass the size limit."""
        with self._aborting():
            self.size += len(data)
            if self.size > self.max_bytes:
                raise LoraRefused(413, f"the file is over this server's limit of {self.max_bytes} bytes "
                                       f"(--max-lora-bytes)")
            self._check.feed(data)
            self._hash.update(data)
            self._file.write(data)

    def complete(self) -> tuple[Header, str]:
        """The whole file is here: its header and SHA-256, once it is checked to
        end where its header says and is on disk (fsync) under its temporary name."""
        with self._aborting():
            header = self._check.finish()
            os.fsync(self._file.fileno())
            self._file.close()
        return header, self._hash.hexdigest()

    @contextlib.contextmanager
    def _aborting(self) -> Iterator[None]:
        """Anything raised inside throws the file away; a bad header is the upload's refusal."""
        try:
            yield
        except NotSafetensors as exc:
            self.abort()
            raise LoraRefused(exc.status, str(exc)) from None
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        self.done = True
        self._file.close()
        self.temp.unlink(missing_ok=True)
