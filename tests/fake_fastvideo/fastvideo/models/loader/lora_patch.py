"""models/loader/lora_patch.py: what FastVideo 0.2.1 reads of an adapter's keys (the header only)."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from typing import Any

# lora_patch.py:55-61: keys of a dense ("hybrid") payload, beside the low-rank ones.
DENSE_SUFFIXES = (".diff", ".diff_b", ".set_weight")


def adapter_keys(path: str) -> list[str]:
    """The tensor names of a .safetensors file, read from its header (no torch here)."""
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    return [key for key in header if key != "__metadata__"]


class DenseLoRAPatch:
    def __init__(self, keys: list[str]) -> None:
        self.keys = keys

    @classmethod
    def from_adapter(
        cls,
        lora_path: str | None,
        param_names_mapping: Callable[[str], tuple[str, Any, Any]] | None = None,
        *,
        strength: float = 1.0,
    ) -> "DenseLoRAPatch | None":
        """lora_patch.py:124-168: a patch when any key is a dense payload, else None."""
        if not lora_path:
            return None
        dense = [key for key in adapter_keys(str(lora_path)) if key.endswith(DENSE_SUFFIXES)]
        return cls(dense) if dense else None
