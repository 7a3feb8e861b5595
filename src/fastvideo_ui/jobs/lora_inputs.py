"""A job's `loras` on this server: each library name checked when the job is
created (the server check), and before each run every entry resolved to the
file FastVideo loads (the resolver): a library name to its file in
--lora-dir, a Hub reference to its file in the Hugging Face cache, fetched
first through the weights fetch (its progress is the job's)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..loras.choice import hub_parts
from ..loras.library import LoraLibrary
from ..loras.names import SUFFIX
from ..loras.safetensors_header import NotSafetensors, read_header
from ..spec.fields import FieldSpec
from ..weights.cache import hub_cache_dir, lora_file, repo_dir
from ..weights.downloads import OFFLINE_VALUES
from .inputs import Fetch, InputUnavailable, Stopping

class LoraResolver:
    def __init__(self, library: LoraLibrary) -> None:
        self.library = library

    def problem(self, _field: FieldSpec, loras: Sequence[dict[str, Any]]) -> str | None:
        """The server check: every library name a job gives is a file in the library now (found, not read:
        a create runs on the event loop, and a file copied in by hand is hashed when it is first listed)."""
        missing = [entry["lora"] for entry in loras if hub_parts(entry["lora"]) is None
                   and self.library.path(entry["lora"]) is None]
        if not missing:
            return None
        return (f"no LoRA named {', '.join(missing)} in the library: GET /api/loras lists them, "
                f"POST /api/loras adds one (a Hub repo is named owner/name)")

    async def __call__(self, value: Sequence[dict[str, Any]], fetch: Fetch) -> list[dict[str, Any]]:
        """Each of the job's `loras` as the worker applies it: {lora (as the job names it), path, strength}.
        Each file's header is checked first (in a thread): FastVideo reads a LoRA in its GPU worker, and
        a file it cannot read ends that worker and the loaded model with it."""
        out = []
        for entry in value:
            path = await self._file(entry["lora"], fetch)
            problem = await asyncio.to_thread(_header_problem, path)
            if problem is not None:
                raise InputUnavailable(f"LoRA {entry['lora']} ({path}) is not a safetensors file FastVideo can "
                                       f"read: {problem}")
            out.append({"lora": entry["lora"], "path": str(path), "strength": float(entry["strength"])})
        return out

    async def _file(self, lora: str, fetch: Fetch) -> Path:
        parts = hub_parts(lora)
        if parts is None:
            path = self.library.path(lora)
            if path is None:
                raise InputUnavailable(f"LoRA {lora} is no longer in the library (deleted since the job was made)")
            return path
        repo, file = parts
        cache = hub_cache_dir()
        cached = _cached_file(cache, repo, file, lora)
        if cached is not None:
            return cached
        if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in OFFLINE_VALUES:
            raise InputUnavailable(f"LoRA {lora} is not in the Hugging Face cache ({cache}) and HF_HUB_OFFLINE "
                                   f"forbids fetching it: fetch {repo} where the Hub can be reached, or "
                                   f"upload the file to the library")
        # Its one file, no larger than the library takes: not the whole repo (a LoRA repo may hold checkpoints,
        # datasets, other models' LoRAs).
        if not await fetch(repo, ("--lora", file or "", "--max-bytes", str(self.library.max_bytes))):
            raise Stopping()
        fetched = _cached_file(cache, repo, file, lora)
        if fetched is None:
            raise InputUnavailable(f"LoRA {lora}: its file is not in the Hugging Face cache ({cache}) after "
                                   f"fetching {repo}")
        return fetched


def _header_problem(path: Path) -> str | None:
    try:
        with path.open("rb") as file:
            read_header(file, os.fstat(file.fileno()).st_size)
    except NotSafetensors as exc:
        return str(exc)
    except OSError as exc:
        return exc.strerror or str(exc)
    except (ArithmeticError, ValueError, RecursionError) as exc:  # what a crafted header may still raise
        return f"its header cannot be read ({type(exc).__name__})"
    return None


def _cached_file(cache: Path, repo: str, file: str | None, lora: str) -> Path | None:
    """The LoRA's file in the cache, None where the cache lacks it; InputUnavailable where the cached repo
    holds several and the job named none (weights.cache.lora_file chooses, as the fetch does)."""
    folder = repo_dir(cache, repo)
    try:
        snapshot = folder / "snapshots" / (folder / "refs" / "main").read_text().strip()
    except OSError:
        return None
    if file is None:
        try:
            file = lora_file(path.name for path in snapshot.glob(f"*{SUFFIX}"))
        except ValueError as exc:
            raise InputUnavailable(f"LoRA {lora}: {exc}") from None
    return snapshot / file if file is not None and (snapshot / file).is_file() else None
