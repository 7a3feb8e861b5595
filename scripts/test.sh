#!/usr/bin/env bash
# Install Debian's chromium for the browser tests if it is missing, set up .venv
# with the package and its test extras, set up the real-FastVideo environment
# (cached outside the clone; see fastvideo-env.sh), then run every test.
# Tests run in three xdist workers, a whole file to a worker (most tests wait on
# a server process or a browser, so three keep two cores busy); pass -n 0 to run
# them in this process, e.g. under a debugger.
# Usage: ./scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-chromium.sh
EXTRAS=test source scripts/venv.sh
./scripts/fastvideo-env.sh
exec .venv/bin/python -m pytest -n "${TEST_WORKERS:-3}" --dist loadfile "$@"
