#!/usr/bin/env bash
# Set up .venv with the package and its test extras, then run every test.
# Usage: ./scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=test source scripts/venv.sh
exec .venv/bin/python -m pytest "$@"
