"""The LoRA library: the .safetensors files in one directory (--lora-dir).

A file gets there by upload (`begin`/`finish`, or `add`), checked as it
arrives (pending.py), or by hand (`cp x.safetensors DIR/`): the directory is
the library, and whatever valid file is in it is listed. Each file's SHA-256
is worked out once and kept, keyed on its size and modification time, in
memory and in `.index.json` beside the files (written whole and renamed into
place), so a restart does not read gigabytes again. A link that leads out of
the directory is not followed: the library serves only what is in it.

No HTTP here: api/loras.py puts it on the web, and the runtime hands in
`in_use`, the query for the jobs not yet ended (pending, queued, running) that name a LoRA."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from .names import LoraRefused, lora_name, spellings, valid_name
from .pending import TEMP_PREFIX, PendingLora
from .safetensors_header import NotSafetensors, base_model, read_header

log = logging.getLogger("fastvideo_ui.loras")

INDEX_NAME = ".index.json"
INDEX_TEMP_PREFIX = ".index-"
STALE_TEMP_S = 3600  # a temporary file untouched this long belongs to no upload still under way
READ_CHUNK = 1024 * 1024


class LoraNotFound(Exception):
    pass


class LoraInUse(Exception):
    def __init__(self, name: str, job_ids: list[str]) -> None:
        super().__init__(f"{name} is used by {len(job_ids)} job(s) not yet ended: "
                         f"{', '.join(job_ids[:10])}; stop them, or wait for them to end")
        self.job_ids = job_ids


@dataclass(frozen=True)
class LoraEntry:
    name: str
    bytes: int
    sha256: str
    base_model: str | None
    created_at: float  # the file's modification time: when it was uploaded or copied in

    def as_json(self) -> dict[str, Any]:
        when = datetime.fromtimestamp(self.created_at, timezone.utc).isoformat(timespec="seconds")
        return {"name": self.name, "bytes": self.bytes, "sha256": self.sha256, "base_model": self.base_model,
                "created_at": when.replace("+00:00", "Z")}


@dataclass(frozen=True)
class _Known:
    """What was worked out of one file, valid while its size and mtime stay."""
    size: int
    mtime_ns: int
    sha256: str
    base_model: str | None


def _used_by_none(_name: str) -> list[str]:
    return []


class LoraLibrary:
    def __init__(self, directory: Path, max_bytes: int,
                 in_use: Callable[[str], list[str]] = _used_by_none) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory.resolve()
        self.max_bytes = max_bytes
        self.in_use = in_use  # the ids of the jobs not yet ended that name it (as the job spells it)
        self._lock = threading.Lock()  # the cache and the index
        self._publish = threading.Lock()  # the check for a file of the same name and the move into place
        self._known: dict[str, _Known] = self._load_index()
        self._warned: dict[str, tuple[int, int]] = {}  # files not listed, said once per version
        self._sweep_stale_temps()

    # -- reading -----------------------------------------------------------------

    def list(self) -> list[LoraEntry]:
        """Every LoRA in the directory, by name. The first listing after a file
        arrives by hand reads it whole for its hash (call it off the event loop)."""
        try:
            names = sorted(item.name for item in os.scandir(self.directory) if valid_name(item.name) == item.name)
        except FileNotFoundError:  # removed while the server runs: an empty library, made again for the next upload
            names = []
        found = [entry for entry in map(self.entry, names) if entry is not None]
        with self._lock:
            gone = set(self._known) - set(names)
            for name in gone:
                del self._known[name]
        if gone:
            self._save_index()
        return found

    def entry(self, name: str) -> LoraEntry | None:
        path = self.path(name)
        if path is None:
            return None
        try:
            info = path.stat()
            with self._lock:
                known = self._known.get(path.name)
            if known is None or (known.size, known.mtime_ns) != (info.st_size, info.st_mtime_ns):
                known = self._examine(path, info)
                if known is None:
                    return None
                self._remember(path.name, known)
        except OSError as exc:  # removed or replaced while it was read
            log.warning("cannot read LoRA %s: %s", path, exc)
            return None
        return LoraEntry(path.name, info.st_size, known.sha256, known.base_model, info.st_mtime)

    def path(self, name: str) -> Path | None:
        """The file of the LoRA `name` (.safetensors may be left off), or None:
        no such file, not a valid name, or a link that leads out of the library."""
        canonical = valid_name(name)
        if canonical is None:
            return None
        path = self.directory / canonical
        try:
            if path.is_symlink() and not path.resolve(strict=True).is_relative_to(self.directory):
                return None
            return path if stat.S_ISREG(path.stat().st_mode) else None
        except (OSError, RuntimeError):  # gone, or a loop of links
            return None

    def has(self, name: str) -> bool:
        return self.entry(name) is not None

    def _examine(self, path: Path, info: os.stat_result) -> _Known | None:
        """A file not seen in this version: its header checked, then read whole for its hash."""
        try:
            with open(path, "rb") as file:
                header = read_header(file, info.st_size)
                file.seek(0)
                digest = hashlib.sha256()
                while chunk := file.read(READ_CHUNK):
                    digest.update(chunk)
        except NotSafetensors as exc:  # not listed, and said why, once
            self._skip(path, info, str(exc))
            return None
        except (ArithmeticError, ValueError, RecursionError) as exc:  # what a crafted header may still raise
            self._skip(path, info, f"its header cannot be read: {type(exc).__name__}")
            return None
        return _Known(info.st_size, info.st_mtime_ns, digest.hexdigest(), base_model(header.metadata))

    def _skip(self, path: Path, info: os.stat_result, why: str) -> None:
        """A file in the directory that is not a LoRA the library can serve: left alone, and not listed."""
        version = (info.st_size, info.st_mtime_ns)
        if self._warned.get(path.name) != version:
            self._warned[path.name] = version
            log.warning("not listing LoRA %s: %s", path, why)

    # -- adding ------------------------------------------------------------------

    def begin(self, name: str) -> PendingLora:
        """An upload under `name`: write its bytes, then `finish` it (LoraRefused
        for a name the library does not take)."""
        canonical = lora_name(name)
        self.directory.mkdir(parents=True, exist_ok=True)
        return PendingLora(self.directory, canonical, self.max_bytes)

    def finish(self, pending: PendingLora) -> tuple[LoraEntry, bool]:
        """The uploaded LoRA, and whether it is new (False: the same file was
        already there). LoraRefused (409) where another file has its name."""
        header, sha256 = pending.complete()
        target = self.directory / pending.name
        with self._publish:
            try:
                existing = self.entry(pending.name)
                if existing is not None and existing.sha256 == sha256:
                    return existing, False
                if existing is not None or os.path.lexists(target):
                    held = f" (sha256 {existing.sha256})" if existing is not None else ""
                    raise LoraRefused(409, f"another file is already called {pending.name}{held}: delete it "
                                           f"first, or give this one another name", "name")
                _move(pending.temp, target)
            finally:
                pending.abort()  # the temporary name goes either way; a moved file lives on under its own
        info = target.stat()
        self._remember(pending.name, _Known(info.st_size, info.st_mtime_ns, sha256, base_model(header.metadata)))
        return LoraEntry(pending.name, info.st_size, sha256, base_model(header.metadata), info.st_mtime), True

    def add(self, name: str, source: Iterable[bytes] | IO[bytes]) -> tuple[LoraEntry, bool]:
        """`source` (an iterable of chunks, or a file open for reading) stored as
        `name`, a chunk at a time: the whole file is never in memory."""
        read = getattr(source, "read", None)  # a file is iterable too, but by lines
        chunks: Iterable[bytes] = iter(lambda: read(READ_CHUNK), b"") if read is not None else source
        with self.begin(name) as pending:
            for chunk in chunks:
                pending.write(chunk)
            return self.finish(pending)

    # -- removing ----------------------------------------------------------------

    def remove(self, name: str) -> None:
        """LoraRefused for a name the library cannot hold, LoraNotFound, or
        LoraInUse while a job that has not ended (pending, queued or running) names it."""
        canonical = lora_name(name)
        path = self.path(canonical)
        if path is None:
            raise LoraNotFound(canonical)
        users = [job for spelling in spellings(canonical) for job in self.in_use(spelling)]
        if users:
            raise LoraInUse(canonical, list(dict.fromkeys(users)))
        path.unlink(missing_ok=True)
        with self._lock:
            self._known.pop(canonical, None)
        self._save_index()

    # -- the index and the leftovers ---------------------------------------------

    def _remember(self, name: str, known: _Known) -> None:
        with self._lock:
            self._known[name] = known
        self._save_index()

    def _load_index(self) -> dict[str, _Known]:
        try:
            stored = json.loads((self.directory / INDEX_NAME).read_text())
            return {name: _Known(**fields) for name, fields in stored.items()
                    if isinstance(fields, dict) and valid_name(name) == name}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, TypeError, AttributeError) as exc:  # unreadable or not ours: worked out again
            log.warning("ignoring the LoRA index %s: %s", self.directory / INDEX_NAME, exc)
            return {}

    def _save_index(self) -> None:
        """Written to a temporary file and renamed over the index: a reader sees the old or the new one whole."""
        with self._lock:
            text = json.dumps({name: asdict(known) for name, known in sorted(self._known.items())})
            try:
                fd, temp = tempfile.mkstemp(prefix=INDEX_TEMP_PREFIX, dir=self.directory)
            except OSError as exc:  # a read-only or full disk: the hashes are worked out again next start
                log.warning("cannot write the LoRA index in %s: %s", self.directory, exc)
                return
            try:
                with os.fdopen(fd, "w") as out:
                    out.write(text)
                os.replace(temp, self.directory / INDEX_NAME)
            except OSError as exc:
                log.warning("cannot write the LoRA index in %s: %s", self.directory, exc)
                Path(temp).unlink(missing_ok=True)

    def _sweep_stale_temps(self, now: float | None = None) -> None:
        """Uploads a crash or a kill cut off; not one still under way (it writes at least every few seconds),
        should another server share the directory."""
        now = time.time() if now is None else now
        for item in os.scandir(self.directory):
            if item.name.startswith((TEMP_PREFIX, INDEX_TEMP_PREFIX)) and item.is_file(follow_symlinks=False):
                try:
                    if now - item.stat(follow_symlinks=False).st_mtime > STALE_TEMP_S:
                        os.unlink(item.path)
                except OSError:
                    pass


def _move(temp: Path, target: Path) -> None:
    """`temp` under the name `target`, never over a file already there (a hard link, then the temp name goes)."""
    try:
        os.link(temp, target)
    except FileExistsError:
        raise LoraRefused(409, f"another file is already called {target.name}: delete it first, or give this "
                               f"one another name", "name") from None
    except OSError:  # a file system without hard links: the publish lock keeps the check and the rename together
        os.rename(temp, target)
