"""Fetch one model's weights into the Hugging Face cache, reporting as JSON
lines on stdout: `total` first, then `progress` twice a second, then `done`
or `error`. Run by the server as a child process (`python -m
fastvideo_ui.weights.fetch REPO_ID`), so a cancel is a kill, and a download
started again resumes the files it had begun (huggingface_hub keeps them as
`.incomplete` blobs).
"""

from __future__ import annotations

import json
import shutil
import sys
import threading

from .cache import IGNORED, cached_weights, hub_cache_dir, split_model_id, wanted

PROGRESS_EVERY_S = 0.5


def emit(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _gb(size: float) -> str:
    return f"{size / 1e9:.1f} GB"


def fetch(model_id: str) -> int:
    """The files FastVideo would fetch for the model, and nothing else."""
    repo_id, subfolder = split_model_id(model_id)
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

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
    try:
        # The default revision, so refs/main is written: FastVideo, offline, finds the snapshot through it.
        snapshot_download(repo_id, cache_dir=cache, ignore_patterns=list(IGNORED),
                          allow_patterns=[f"{subfolder}/**"] if subfolder else None)
    except (HfHubHTTPError, OSError) as exc:
        finished.set()
        emit({"type": "error", "message": f"download failed: {exc}"})
        return 1
    finished.set()
    reporter.join()
    emit({"type": "progress", "bytes": cached_weights(cache, model_id).size_bytes})
    emit({"type": "done"})
    return 0


if __name__ == "__main__":
    sys.exit(fetch(sys.argv[1]))
