#!/usr/bin/env bash
# The prepared GPU check (scripts/gpu_check.py says what it prints), for a machine
# with an NVIDIA GPU and no network, whose python3 has CUDA torch but not
# fastvideo or diffusers. Those, and whatever else is missing there, travel as
# wheels in .whl/ (made here by ./scripts/gpu-check.sh --fetch-wheels) and are
# installed into /tmp/site first. Finishes in a few minutes.
# Usage: ./scripts/gpu-check.sh [--fetch-wheels | --cpu-dry-run | --overhead [bench/overhead.py's flags]]
# --overhead runs bench/overhead.py --gpu (the runner against direct FastVideo calls) instead of the check.
set -euo pipefail
cd "$(dirname "$0")/.."

# What the device image lacks, for Python 3.12 on x86-64 (its python3), within the
# 64 MiB a device call may carry: imageio-ffmpeg 0.5.1 (FastVideo's minimum, which
# writes its MP4s) is 27 MB against 68 for the newest, and PyAV (35 MB) stays
# behind: it only draws posters, so jobs there have none.
WHEELS=(fastvideo==0.2.1 diffusers==0.42.1 ftfy wcwidth remote-pdb imageio-ffmpeg==0.5.1
        fastapi opentelemetry-api starlette uvicorn httptools sqlalchemy greenlet alembic mako orjson
        pydantic pydantic-core annotated-types typing-inspection importlib-metadata lazy-importer
        httpcore h11 certifi)  # the webhook sender (the server imports it at start)

if [ "${1:-}" = "--fetch-wheels" ]; then
    rm -rf .whl && mkdir -p .whl
    for wheel in "${WHEELS[@]}"; do
        python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
            --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
            --platform manylinux_2_27_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64 \
            --platform any -d .whl "$wheel"
    done
    du -sh .whl
    exit 0
fi
if [ "${1:-}" = "--cpu-dry-run" ]; then
    ./scripts/fastvideo-env.sh >/dev/null
    exec .venv-fastvideo/bin/python scripts/gpu_check.py --cpu-dry-run
fi
OVERHEAD=0
if [ "${1:-}" = "--overhead" ]; then
    OVERHEAD=1
    shift
fi
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
# Every import the server and FastVideo's t2v path make, before minutes are spent.
PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} python3 -c \
    "import fastvideo_ui.app, fastvideo_ui.workers.main, fastvideo, diffusers, transformers, imageio_ffmpeg"
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader || true
if [ "$OVERHEAD" = 1 ]; then
    exec python3 bench/overhead.py --gpu "$@"
fi
exec python3 scripts/gpu_check.py
