"""Build a tiny random LoRA adapter for the tiny Wan 2.1 T2V checkpoint, offline.

    python build_tiny_lora.py OUTPUT.safetensors [--hf-home DIR] [--seed N] [--rank R]
                              [--only REGEX] [--unmatched] [--style peft|wan] [--alpha A]

reads the transformer's real layer names and shapes from the tiny checkpoint
that build_tiny_wan.py wrote into a Hugging Face cache (HF_HOME by default) and
writes a low-rank pair for each attention and feed-forward linear of its
blocks, in a key layout fastvideo 0.2.1 accepts:

- ``peft`` (default): ``diffusion_model.blocks.0.attn1.to_q.lora_A.weight`` /
  ``.lora_B.weight``, the Diffusers names. ``normalize_lora_key``
  (models/loader/lora_patch.py:72) drops ``diffusion_model.``, and the Wan
  ``param_names_mapping`` (configs/models/dits/wanvideo.py) renames
  ``attn1.to_q`` to FastVideo's ``blocks.0.to_q``.
- ``wan``: the original Wan / kohya spelling,
  ``diffusion_model.blocks.0.self_attn.q.lora_down.weight`` / ``.lora_up.weight``,
  which ``normalize_lora_key`` turns into lora_A/lora_B and
  ``lora_param_names_mapping`` into the Diffusers names.

The factors are large (std 0.3) so that the merged delta is of the order of
the random base weights and the frames visibly change. No ``.alpha`` key is
written unless ``--alpha`` is given (FastVideo then scales by alpha / rank):
fastvideo 0.2.1 maps an alpha key with the layer name alone
(pipelines/lora_pipeline.py:385-387), which the Wan mappings, written for
``<layer>.<something>``, do not match, so for every layer whose name they
rename (attn1.*, ffn.*, all of the ``wan`` style) the alpha is ignored and
logged as "LoRA key not loaded: ....lora_alpha".

``--only REGEX`` keeps the layers whose Diffusers name matches (e.g.
``attn1`` or ``blocks\\.0\\.``), for adapters that cover different layers.
``--unmatched`` writes the same pairs for blocks the model does not have
(``blocks.<num_layers + i>``): FastVideo loads them, applies the adapter to no
layer, and warns "LoRA key not loaded: ..." for each.

Runs in the real-FastVideo environment (torch, safetensors); a few kB.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

REPO_ID = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
# Diffusers name of a block's linear -> the original Wan name (lora_param_names_mapping's left side).
TARGETS = {
    "attn1.to_q": "self_attn.q", "attn1.to_k": "self_attn.k", "attn1.to_v": "self_attn.v",
    "attn1.to_out.0": "self_attn.o",
    "attn2.to_q": "cross_attn.q", "attn2.to_k": "cross_attn.k", "attn2.to_v": "cross_attn.v",
    "attn2.to_out.0": "cross_attn.o",
    "ffn.net.0.proj": "ffn.0", "ffn.net.2": "ffn.2",
}
_BLOCK_LINEAR = re.compile(r"^blocks\.(\d+)\.(.+)\.weight$")


def transformer_file(hf_home: Path) -> Path:
    """The tiny checkpoint's transformer weights in the HF cache build_tiny_wan.py wrote."""
    repo = hf_home / "hub" / ("models--" + REPO_ID.replace("/", "--"))
    revision = (repo / "refs" / "main").read_text().strip()
    return repo / "snapshots" / revision / "transformer" / "diffusion_pytorch_model.safetensors"


def block_linears(weights: Path) -> tuple[dict[str, tuple[int, int]], int]:
    """{Diffusers layer name: (out_features, in_features)} of the targeted linears, and the block count."""
    from safetensors import safe_open

    layers: dict[str, tuple[int, int]] = {}
    blocks = 0
    with safe_open(str(weights), framework="pt") as handle:
        for key in handle.keys():
            match = _BLOCK_LINEAR.match(key)
            if match is None:
                continue
            blocks = max(blocks, int(match[1]) + 1)
            if match[2] in TARGETS:
                out_features, in_features = handle.get_slice(key).get_shape()
                layers[key[:-len(".weight")]] = (out_features, in_features)
    return layers, blocks


def build_tiny_lora(output: Path, hf_home: Path | None = None, *, seed: int = 0, rank: int = 4,
                    only: str | None = None, unmatched: bool = False, style: str = "peft",
                    alpha: float | None = None, std: float = 0.3) -> dict[str, object]:
    """Write the adapter; return what it holds (layers, rank, keys)."""
    import torch
    from safetensors.torch import save_file

    if style not in ("peft", "wan"):
        raise ValueError(f"style must be peft or wan, not {style!r}")
    hf_home = Path(hf_home or os.environ["HF_HOME"])
    layers, blocks = block_linears(transformer_file(hf_home))
    if only is not None:
        layers = {name: shape for name, shape in layers.items() if re.search(only, name)}
    if not layers:
        raise ValueError(f"no layer of the tiny transformer matches {only!r}")
    if unmatched:  # the same layers, in blocks past the model's last one
        layers = {re.sub(r"^blocks\.(\d+)\.", lambda m: f"blocks.{blocks + int(m[1])}.", name): shape
                  for name, shape in layers.items()}
    generator = torch.Generator().manual_seed(seed)
    tensors: dict[str, torch.Tensor] = {}
    for name, (out_features, in_features) in sorted(layers.items()):
        down = torch.randn(rank, in_features, generator=generator) * std
        up = torch.randn(out_features, rank, generator=generator) * std
        if style == "peft":
            tensors[f"diffusion_model.{name}.lora_A.weight"] = down
            tensors[f"diffusion_model.{name}.lora_B.weight"] = up
            if alpha is not None:
                tensors[f"diffusion_model.{name}.alpha"] = torch.tensor(float(alpha))
        else:
            block, layer = re.match(r"^(blocks\.\d+)\.(.+)$", name).groups()  # type: ignore[union-attr]
            wan = f"diffusion_model.{block}.{TARGETS[layer]}"
            tensors[f"{wan}.lora_down.weight"] = down
            tensors[f"{wan}.lora_up.weight"] = up
            if alpha is not None:
                tensors[f"{wan}.alpha"] = torch.tensor(float(alpha))
    output.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(output), metadata={"tiny_lora": json.dumps({"seed": seed, "rank": rank})})
    return {"path": str(output), "layers": sorted(layers), "rank": rank, "keys": len(tensors)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--hf-home", type=Path, default=None, help="default: $HF_HOME")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rank", type=int, default=4)
    parser.add_argument("--only", default=None, help="keep the layers whose Diffusers name matches this regex")
    parser.add_argument("--unmatched", action="store_true", help="keys for blocks the model does not have")
    parser.add_argument("--style", choices=("peft", "wan"), default="peft")
    parser.add_argument("--alpha", type=float, default=None, help="write .alpha keys (default: none, alpha = rank)")
    args = parser.parse_args(argv)
    info = build_tiny_lora(args.output, args.hf_home, seed=args.seed, rank=args.rank, only=args.only,
                           unmatched=args.unmatched, style=args.style, alpha=args.alpha)
    json.dump(info, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
