#!/usr/bin/env bash
# Set up .venv with the package, then start the server on http://127.0.0.1:8189/.
# Usage: ./scripts/serve.sh [fastvideo-ui serve flags]
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS= source scripts/venv.sh
exec .venv/bin/fastvideo-ui serve "$@"
