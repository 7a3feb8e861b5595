#!/usr/bin/env bash
# The real-FastVideo environment the tests run the real library in: CPU torch,
# fastvideo 0.2.1 without its CUDA pins, what its text-to-video path imports,
# and this package's own dependencies. It lives outside the clone, keyed by a
# hash of this script and pyproject.toml, so later runs and fresh clones reuse
# it (about 1.6 GB; a minute to build with a warm pip cache). Links it as
# .venv-fastvideo, which tests/test_real_fastvideo.py runs the server from.
# Usage: ./scripts/fastvideo-env.sh   (./scripts/test.sh runs it)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
key=$(cat scripts/fastvideo-env.sh pyproject.toml | sha256sum | cut -c1-16)
cache=${FASTVIDEO_UI_ENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fastvideo-ui}
venv="$cache/real-fastvideo-$key"

if [ ! -f "$venv/.complete" ]; then
    echo "building the real-FastVideo environment in $venv"
    rm -rf "$venv"
    # Older builds are 1.6 GB each; one unused for a day is not another run's.
    find "$cache" -maxdepth 1 -name 'real-fastvideo-*' -mtime +0 -exec rm -rf {} + 2>/dev/null || true
    mkdir -p "$cache"
    "$PYTHON" -m venv "$venv"
    pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
    # torch alone first: this exact version is the CPU build. Anything that asks
    # for torch later finds it satisfied instead of pulling a CUDA build.
    "${pip[@]}" torch==2.13.0
    # fastvideo pins torch==2.12.0 (CUDA) and PyPI's torchvision is a CUDA build
    # that would replace CPU torch: both without their dependencies.
    # (pip then lists fastvideo's unmet pins: expected, and filtered out.)
    "${pip[@]}" --no-deps fastvideo==0.2.1 torchvision==0.28.0 2>&1 | { grep -v -e "^fastvideo 0.2.1 requires" -e "^ERROR: pip.s dependency resolver" || true; }
    # What fastvideo's text-to-video path imports (tokenizers < 0.23 for fastvideo;
    # pinned beside transformers, or pip backtracks).
    "${pip[@]}" cloudpickle remote_pdb ftfy scipy psutil numpy 'diffusers==0.42.1' 'transformers==5.15.1' \
        'tokenizers==0.22.2' sentencepiece einops safetensors imageio imageio-ffmpeg pillow huggingface_hub \
        'accelerate==1.0.1' 2>&1 | { grep -v -e "^fastvideo 0.2.1 requires" -e "^ERROR: pip.s dependency resolver" || true; }
    # This package's own dependencies; the tests put the clone's src/ first on
    # PYTHONPATH, so the code that runs is always the clone's.
    "${pip[@]}" -e . 2>&1 | { grep -v -e "^fastvideo 0.2.1 requires" -e "^ERROR: pip.s dependency resolver" || true; }
    PYTHONPATH=tests/real_fastvideo/site "$venv/bin/python" -c \
        "import torch, fastvideo.registry; assert not torch.version.cuda" >/dev/null 2>&1 || {
        echo "the real-FastVideo environment does not import (CPU torch + fastvideo)" >&2; exit 1; }
    touch "$venv/.complete"
fi
touch "$venv"  # in use: not pruned
ln -sfn "$venv" .venv-fastvideo
echo "real-FastVideo environment: $venv"
