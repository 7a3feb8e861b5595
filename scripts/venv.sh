# Sourced by serve.sh and test.sh: make .venv and install this package into it,
# with the extras named in $EXTRAS (e.g. "test"), if any.
# pip runs only when .venv is new, pyproject.toml has changed, or extras are
# asked for that were not installed: a stamp in .venv, named by pyproject.toml's
# hash and the extras, records each install. (The install is editable, so
# changes under src/ need none.) rm .venv/.installed-* to force one.
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
fi
if command -v sha256sum >/dev/null; then
    _project=$(sha256sum pyproject.toml | cut -c1-16)
else
    _project=$(shasum -a 256 pyproject.toml | cut -c1-16)
fi
_stamp=.venv/.installed-$_project-${EXTRAS:-none}
# Any install of this pyproject.toml holds the package itself, whatever its extras.
if [ ! -e "$_stamp" ] && ! { [ -z "${EXTRAS:-}" ] && compgen -G ".venv/.installed-$_project-*" >/dev/null; }; then
    .venv/bin/python -m pip install --quiet -e ".${EXTRAS:+[$EXTRAS]}"
    find .venv -maxdepth 1 -name '.installed-*' ! -name ".installed-$_project-*" -delete
    touch "$_stamp"
fi
unset _project _stamp
