#!/usr/bin/env bash
# Set up a virtual environment with the package, then start the server on
# http://127.0.0.1:8189/. Usage: ./scripts/serve.sh [fastvideo-ui serve flags]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
exec .venv/bin/fastvideo-ui serve "$@"
