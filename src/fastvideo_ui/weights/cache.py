"""The Hugging Face hub cache, read from its documented layout without
importing huggingface_hub (the server keeps its memory for serving):

    <cache>/models--<org>--<name>/blobs/<hash>[.incomplete]
                                 /snapshots/<commit>/<file> -> ../../blobs/<hash>
                                 /refs/main                  (the commit)
                                 /trees/<commit>.json        (its file list, from huggingface_hub 2)
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

# What FastVideo 0.2.1 leaves out when it downloads a model (utils.maybe_download_model).
IGNORED = ("*.onnx", "*.msgpack")


# A LoRA repo named without its file: diffusers' name first (FastVideo 0.2.1's maybe_download_lora prefers it
# too), then PEFT's, else its one top-level .safetensors, training leftovers left out (as diffusers'
# _best_guess_weight_name does). Where FastVideo would take the first of several in directory order, the
# job is refused instead, asking for the file by name.
LORA_PREFERRED = ("pytorch_lora_weights.safetensors", "adapter_model.safetensors")
_NOT_LORA = ("scheduler", "optimizer", "checkpoint")


def lora_file(names: Iterable[str]) -> str | None:
    """Which of a LoRA repo's files (`names`, paths in the repo) is the LoRA: None where there is none;
    ValueError naming them where there are several."""
    names = list(names)
    for name in LORA_PREFERRED:
        if name in names:
            return name
    top = sorted(name for name in names if "/" not in name and name.endswith(".safetensors")
                 and not any(word in name for word in _NOT_LORA))
    if len(top) > 1:
        raise ValueError(f"the repo holds several .safetensors files ({', '.join(top)}): name one, as "
                         f"owner/name/<file>")
    return top[0] if top else None


def split_model_id(model_id: str) -> tuple[str, str | None]:
    """The hub repo and, for FastVideo's "org/repo/subfolder" ids, the subfolder."""
    parts = model_id.split("/")
    return "/".join(parts[:2]), "/".join(parts[2:]) or None


def wanted(path: str, subfolder: str | None) -> bool:
    """Whether FastVideo fetches this file of the repo for the model."""
    if subfolder is not None and not path.startswith(subfolder + "/"):
        return False
    return not any(fnmatch.fnmatch(path, pattern) for pattern in IGNORED)


def hub_cache_dir() -> Path:
    """Where huggingface_hub (and so FastVideo) keeps models, as it decides it."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "huggingface" / "hub"


def repo_dir(cache: Path, model_id: str) -> Path:
    repo_id, _ = split_model_id(model_id)
    return cache / ("models--" + repo_id.replace("/", "--"))


@dataclass(frozen=True)
class CachedWeights:
    cached: bool  # a snapshot of it is there (FastVideo can load it offline)
    size_bytes: int  # on disk, partial downloads included
    partial_bytes: int  # in downloads that have not finished


def cached_weights(cache: Path, model_id: str) -> CachedWeights:
    folder = repo_dir(cache, model_id)
    size = partial = 0
    try:
        with os.scandir(folder / "blobs") as blobs:
            for blob in blobs:
                try:
                    bytes_ = blob.stat(follow_symlinks=False).st_size
                except OSError:
                    continue
                size += bytes_
                if blob.name.endswith(".incomplete"):
                    partial += bytes_
    except OSError:
        pass
    snapshot = _snapshot(folder, split_model_id(model_id)[1])
    return CachedWeights(snapshot is not None and partial == 0, size, partial)


def _snapshot(folder: Path, subfolder: str | None) -> Path | None:
    """The snapshot refs/main names, if it is whole: every file of the commit's
    listing is there (where the listing was kept; else, any file at all)."""
    try:
        commit = (folder / "refs" / "main").read_text().strip()
    except OSError:
        return None
    snapshot = folder / "snapshots" / commit
    root = snapshot / subfolder if subfolder else snapshot
    if not root.is_dir() or not any(root.iterdir()):
        return None
    try:
        listed = json.loads((folder / "trees" / f"{commit}.json").read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return snapshot
    return snapshot if all((snapshot / name).exists() for name in listed if wanted(name, subfolder)) else None


def weights_in_use(model_id: str, running: Mapping[str, str], fetching: Iterable[str]) -> str | None:
    """Why deleting `model_id`'s weights must wait, or None. Deleting removes
    its whole repo, so an `org/repo/subfolder` model's siblings lose theirs
    too: what counts is any job (`running`: job id -> model id) or fetch of a
    model in the same repo."""
    repo = split_model_id(model_id)[0]

    def named(other: str) -> str:
        return "them" if other == model_id else f"{other}, whose weights are in the same repo {repo}"

    for other in fetching:
        if split_model_id(other)[0] == repo:
            return f"a download of {named(other)} is under way (cancel it first)"
    for job_id, other in running.items():
        if split_model_id(other)[0] == repo:
            return f"job {job_id} is running with {named(other)}"
    return None


def delete_weights(cache: Path, model_id: str) -> int:
    """Remove a model's cached weights (the whole repo, for a subfolder model); the bytes freed."""
    folder = repo_dir(cache, model_id)
    freed = cached_weights(cache, model_id).size_bytes
    shutil.rmtree(folder, ignore_errors=True)
    return freed if not folder.exists() else 0
