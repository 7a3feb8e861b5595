"""What a job may say of a LoRA, checked before anything is stored (stdlib
only: the job spec, the CLI and the worker import it): a library name, a
Hugging Face repo id, or a file in one; `submit --lora`'s NAME[:STRENGTH];
and what FastVideo 0.2.1 cannot do with a LoRA on a two-expert model."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Protocol

from .names import PICKLE_SUFFIXES, SUFFIX, valid_name

MAX_LORAS = 4
MAX_STRENGTH = 4.0
# A Hub repo id as huggingface_hub validates one: an owner and a name of ASCII letters, digits, "_", "." and "-".
_REPO = re.compile(r"[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}", re.ASCII)
_PATH_PART = re.compile(r"[\w.+ -]{1,200}", re.ASCII)


class _Model(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def features(self) -> frozenset[str]: ...


def hub_parts(text: str) -> tuple[str, str | None] | None:
    """(repo id, file in it or None) for a Hub reference, None for a library name."""
    if "/" not in text:
        return None
    owner, name, *path = text.split("/")
    return f"{owner}/{name}", "/".join(path) or None


def lora_ref(text: str) -> str:
    """A job's `lora`, or ValueError saying which rule it breaks (the request model's check)."""
    parts = hub_parts(text)
    if parts is None:
        if text.lower().endswith(PICKLE_SUFFIXES):
            raise ValueError(f"{text!r} names a pickle: only .safetensors LoRAs are loaded (a pickle runs code "
                             f"when it is loaded)")
        name = valid_name(text)
        if name is None:
            raise ValueError(f"{text!r} is neither a library name (a plain file name: GET /api/loras lists them) "
                             f"nor a Hugging Face repo id (owner/name, or owner/name/file.safetensors)")
        return name  # as the library names it (ink is ink.safetensors): one LoRA is written one way
    repo, path = parts
    if not _REPO.fullmatch(repo) or ".." in repo or repo.split("/")[1] in (".", "-"):
        raise ValueError(f"{text!r}: {repo!r} is not a Hugging Face repo id (owner/name)")
    if path is not None:
        if any(not _PATH_PART.fullmatch(part) or part in (".", "..") for part in path.split("/")):
            raise ValueError(f"{text!r}: {path!r} is not a file path in a repo")
        if not path.lower().endswith(SUFFIX):
            raise ValueError(f"{text!r}: {path!r} is not a .safetensors file: only safetensors LoRAs are loaded "
                             f"(a pickle runs code when it is loaded)")
    return text


def parse_lora_flag(text: str) -> dict[str, Any]:
    """`--lora NAME[:STRENGTH]` as a `loras` item: `style:0.8`, `owner/repo`, `style` (strength 1)."""
    import argparse

    name, colon, tail = text.rpartition(":")
    if not colon:
        name, tail = text, "1"
    try:
        strength = float(tail)  # "ink:" is no strength: refused, not taken as 1
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: the strength after ':' must be a number") from None
    if not math.isfinite(strength) or abs(strength) > MAX_STRENGTH:
        raise argparse.ArgumentTypeError(f"{text!r}: the strength must be a finite number from -{MAX_STRENGTH:g} to "
                                         f"{MAX_STRENGTH:g}")
    try:
        return {"lora": lora_ref(name), "strength": strength}
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def loras_rule(loras: Any, values: Mapping[str, Any], model: _Model) -> str | None:
    """What a job's LoRAs cannot be together: one LoRA twice, or one for a single expert.

    A LoRA for one expert of a two-expert model (Wan2.2 A14B's high- and low-noise transformers) is what
    users ask for; FastVideo 0.2.1 cannot do it: LoRAPipeline keeps one set of adapter weights per nickname,
    keyed by layer name, and merges it into every trainable transformer alike, `transformer` and
    `transformer_2` (pipelines/lora_pipeline.py, set_lora_adapter and convert_to_lora_layers)."""
    seen: dict[str, int] = {}
    for index, entry in enumerate(loras, 1):
        if entry["lora"] in seen:  # FastVideo keys an adapter by its file: the second would replace the first
            return (f"#{index} repeats #{seen[entry['lora']]} ({entry['lora']}): give each LoRA once, with the "
                    f"strength you want")
        seen[entry["lora"]] = index
    asked = [index for index, entry in enumerate(loras, 1) if entry.get("expert")]
    if not asked:
        return None
    which = " and ".join(f"#{index}" for index in asked)
    verb = "names" if len(asked) == 1 else "name"
    if "experts" not in model.features:
        return f"{which} {verb} an expert, but {model.id} has one transformer: leave expert out"
    return (f"{which} {verb} an expert: FastVideo 0.2.1 applies each LoRA to both of {model.id}'s experts alike "
            f"and cannot give one expert an adapter of its own; leave expert out to apply it to both")
