#!/usr/bin/env bash
# Install Debian's chromium for the browser tests if it is missing, set up .venv
# with the package and its test extras, set up the real-FastVideo environment
# (cached outside the clone; see fastvideo-env.sh), then run every test.
# Tests run in three xdist workers, a whole file to a worker (most tests wait on
# a server process or a browser, so three keep two cores busy); pass -n 0 to run
# them in this process, e.g. under a debugger.
# The quick lane, while working: ./scripts/test.sh -m "not slow and not browser"
# skips Chromium's install when browser tests are left out, and the real-FastVideo
# environment when slow ones are (its build is keyed on pyproject.toml, so an edit
# there would otherwise rebuild 1.6 GB first). Any other -m runs both set-ups.
# Usage: ./scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

# The one -m expression given, its words single-spaced; empty if none or several.
marks=""
given=0
args=("$@")
for ((i = 0; i + 1 < ${#args[@]}; i++)); do
    if [ "${args[i]}" = "-m" ]; then
        read -ra words <<< "${args[i + 1]}"
        marks="${words[*]}"
        given=$((given + 1))
    fi
done
[ "$given" = 1 ] || marks=""
browser=yes
real_fastvideo=yes
case "$marks" in
    "not slow and not browser" | "not browser and not slow") browser=no real_fastvideo=no ;;
    "not browser") browser=no ;;
    "not slow") real_fastvideo=no ;;  # the real-FastVideo tests are all marked slow (conftest.py)
esac

[ "$browser" = no ] || ./scripts/install-chromium.sh
EXTRAS=test source scripts/venv.sh
[ "$real_fastvideo" = no ] || ./scripts/fastvideo-env.sh
exec .venv/bin/python -m pytest -n "${TEST_WORKERS:-3}" --dist loadfile "$@"
