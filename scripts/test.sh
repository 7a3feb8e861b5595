#!/usr/bin/env bash
# Install Debian's chromium for the browser tests if it is missing, set up .venv
# with the package and its test extras, then run every test.
# Usage: ./scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-chromium.sh
EXTRAS=test source scripts/venv.sh
exec .venv/bin/python -m pytest "$@"
