"""Fetch one model's weights into the Hugging Face cache, reporting as JSON
lines on stdout: `total` first, then `progress` twice a second, then `done`
or `error`. Run by the server as a child process (`python -m
fastvideo_ui.weights.fetch MODEL_ID`), so a cancel is a kill.

It fetches what FastVideo's own download would, file by file, into the cache's
own layout (blobs named by ETag, a snapshot of links, refs/main), so FastVideo
then loads the model offline. Each file grows in `blobs/<etag>.incomplete`,
under huggingface_hub's own per-blob lock, and a fetch started again resumes
it with an HTTP Range request: a cancelled 20 GB download does not start over.
(huggingface_hub 2's own downloads write to a name unique to each process and
cannot be resumed.)
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
from pathlib import Path

from .cache import cached_weights, hub_cache_dir, lora_file, repo_dir, split_model_id, wanted

PROGRESS_EVERY_S = 0.5
CHUNK_BYTES = 1 << 20


def emit(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _gb(size: float) -> str:
    return f"{size / 1e9:.1f} GB"


def fetch_file(repo_id: str, filename: str, commit: str, folder: Path, cache: Path) -> None:
    """One file of the snapshot into the cache, resuming a partial blob."""
    import httpx
    from filelock import FileLock
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.utils import build_hf_headers

    url = hf_hub_url(repo_id, filename, revision=commit)
    meta = get_hf_file_metadata(url)
    if not meta.etag:
        raise OSError(f"the hub gave no ETag for {filename}")
    blob = folder / "blobs" / meta.etag
    pointer = folder / "snapshots" / commit / filename
    if not blob.exists():
        blob.parent.mkdir(parents=True, exist_ok=True)
        lock_dir = cache / ".locks" / folder.name
        lock_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(lock_dir / f"{meta.etag}.lock")):
            if not blob.exists():
                _download(meta.location or url, blob, meta.size, build_hf_headers(), httpx)
    pointer.parent.mkdir(parents=True, exist_ok=True)
    if not pointer.exists():
        pointer.symlink_to(os.path.relpath(blob, pointer.parent))


def _download(url: str, blob: Path, size: int | None, headers: dict[str, str], httpx) -> None:  # type: ignore[no-untyped-def]
    partial = blob.with_name(blob.name + ".incomplete")
    have = partial.stat().st_size if partial.exists() else 0
    if size is not None and have > size:
        have = 0
    if have:
        headers = {**headers, "Range": f"bytes={have}-"}
    with httpx.stream("GET", url, headers=headers, follow_redirects=True, timeout=httpx.Timeout(60, connect=20)) \
            as response:
        if have and response.status_code != 206:  # the server ignored the range: start over
            have = 0
        response.raise_for_status()
        with open(partial, "ab" if have else "wb") as out:
            for chunk in response.iter_bytes(CHUNK_BYTES):
                out.write(chunk)
    if size is not None and partial.stat().st_size != size:
        raise OSError(f"{blob.name}: got {partial.stat().st_size} bytes of {size}")
    os.replace(partial, blob)


def fetch(model_id: str, lora: str | None = None, max_bytes: int | None = None) -> int:
    """The files FastVideo would fetch for the model, and nothing else; with `lora` (a file, or "" to choose
    one), the one file of a LoRA repo, no larger than `max_bytes`."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    repo_id, subfolder = split_model_id(model_id)
    cache = hub_cache_dir()
    try:
        info = HfApi().model_info(repo_id, files_metadata=True)
    except RepositoryNotFoundError:
        emit({"type": "error", "message": f"the hub has no model {repo_id} (or it is gated and needs a token)"})
        return 1
    except (HfHubHTTPError, OSError) as exc:
        emit({"type": "error", "message": f"cannot reach the hub: {exc}"})
        return 1
    files = [sibling for sibling in info.siblings or [] if wanted(sibling.rfilename, subfolder)]
    if lora is not None:
        names = [sibling.rfilename for sibling in info.siblings or []]
        try:
            chosen = lora or lora_file(names)
        except ValueError as exc:
            emit({"type": "error", "message": f"LoRA {repo_id}: {exc}"})
            return 1
        if chosen is None or chosen not in names:
            emit({"type": "error", "message": f"LoRA {repo_id}: the repo has no "
                                              f"{chosen or '.safetensors file at its top'}"})
            return 1
        files = [sibling for sibling in info.siblings or [] if sibling.rfilename == chosen]
        size = sum(sibling.size or 0 for sibling in files)
        if max_bytes is not None and size > max_bytes:
            emit({"type": "error", "message": f"LoRA {repo_id}/{chosen} is {size} bytes, over this server's "
                                              f"--max-lora-bytes ({max_bytes})"})
            return 1
    total = sum(sibling.size or 0 for sibling in files)
    have = cached_weights(cache, model_id).size_bytes
    emit({"type": "total", "bytes": total, "files": len(files), "commit": info.sha})
    cache.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(cache).free
    if total - have > free:
        emit({"type": "error", "message": f"not enough disk space: {model_id} needs {_gb(total - have)} more, "
                                          f"{_gb(free)} free under {cache}"})
        return 1

    finished = threading.Event()

    def report() -> None:
        while not finished.wait(PROGRESS_EVERY_S):
            emit({"type": "progress", "bytes": cached_weights(cache, model_id).size_bytes})

    reporter = threading.Thread(target=report, daemon=True)
    reporter.start()
    folder = repo_dir(cache, model_id)
    try:
        for sibling in files:
            fetch_file(repo_id, sibling.rfilename, str(info.sha), folder, cache)
        (folder / "refs").mkdir(parents=True, exist_ok=True)
        (folder / "refs" / "main").write_text(str(info.sha))
    except Exception as exc:  # noqa: BLE001 - the hub's, httpx's and the disk's errors: said, not a traceback
        finished.set()
        emit({"type": "error", "message": f"download failed: {exc}"})
        return 1
    finished.set()
    reporter.join()
    emit({"type": "progress", "bytes": cached_weights(cache, model_id).size_bytes})
    emit({"type": "done"})
    return 0


if __name__ == "__main__":
    # fetch MODEL_ID, or fetch REPO --lora FILE (or "") --max-bytes N
    arguments = dict(zip(sys.argv[2::2], sys.argv[3::2], strict=False))
    sys.exit(fetch(sys.argv[1], arguments.get("--lora"),
                   int(arguments["--max-bytes"]) if "--max-bytes" in arguments else None))
