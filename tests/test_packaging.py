"""Installing: scripts/venv.sh (sourced by serve.sh, test.sh and so CI) runs
pip only when .venv is new, pyproject.toml has changed, or extras not yet
installed are asked for; and the package's metadata is what setuptools takes
without a warning and ships every file the server serves."""

from __future__ import annotations

import subprocess
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: mypy, a test extra, brings tomli
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
VENV_SH = ROOT / "scripts" / "venv.sh"

# `python3 -m venv .venv` makes a .venv/bin/python that logs its arguments.
FAKE_PYTHON = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$CALLS"
if [ "$1 $2" = "-m venv" ]; then
    mkdir -p "$3/bin" && cp "$0" "$3/bin/python"
fi
"""


def source_venv_sh(project: Path, extras: str) -> list[str]:
    """The calls one `source scripts/venv.sh` makes, as serve.sh and test.sh run it."""
    calls = project / "calls.log"
    calls.unlink(missing_ok=True)
    subprocess.run(["bash", "-c", f'set -euo pipefail; cd "$1"; EXTRAS={extras} source "$2"', "-",
                    str(project), str(VENV_SH)], check=True, timeout=60,
                   env={"PATH": "/usr/bin:/bin", "CALLS": str(calls), "PYTHON": str(project / "python3")})
    return calls.read_text().splitlines() if calls.exists() else []


def test_pip_runs_once_and_again_only_when_pyproject_or_the_extras_change(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    fake = tmp_path / "python3"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    # A fresh clone: the venv, pip upgraded once, the package installed.
    assert source_venv_sh(tmp_path, "test") == [
        "python3 -m venv .venv",
        "python -m pip install --quiet --upgrade pip",
        "python -m pip install --quiet -e .[test]",
    ]
    assert source_venv_sh(tmp_path, "test") == []
    assert source_venv_sh(tmp_path, "") == []  # the test install holds the package itself
    assert source_venv_sh(tmp_path, "ray") == ["python -m pip install --quiet -e .[ray]"]
    assert source_venv_sh(tmp_path, "test") == []
    # An edited pyproject.toml (a new dependency, say) installs again, once.
    with open(tmp_path / "pyproject.toml", "a") as pyproject:
        pyproject.write("\n# a change\n")
    assert source_venv_sh(tmp_path, "") == ["python -m pip install --quiet -e ."]
    assert source_venv_sh(tmp_path, "") == []
    assert source_venv_sh(tmp_path, "test") == ["python -m pip install --quiet -e .[test]"]
    assert source_venv_sh(tmp_path, "test") == []


def test_the_license_is_an_spdx_expression_and_its_files_ship() -> None:
    """setuptools warned three times per install about the old table form."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert isinstance(project["project"]["license"], str)
    assert "setuptools>=77" in project["build-system"]["requires"]  # the first to take that form
    for pattern in project["project"]["license-files"]:
        assert list(ROOT.glob(pattern)), pattern


def test_package_data_covers_every_file_the_server_serves() -> None:
    package = ROOT / "src" / "fastvideo_ui"
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    shipped = {path for pattern in patterns["fastvideo_ui"] for path in package.glob(pattern)}
    for served in ("web", "docs"):
        files = {path for path in (package / served).rglob("*") if path.is_file()}
        assert files and sorted(files - shipped) == [], served


def test_package_data_ships_every_migration() -> None:
    """A wheel without them would start on an empty database it cannot migrate."""
    package = ROOT / "src" / "fastvideo_ui"
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    shipped = {path for pattern in patterns["fastvideo_ui"] for path in package.glob(pattern)}
    migrations = package / "database" / "migrations"
    files = {path for path in migrations.rglob("*") if path.is_file() and "__pycache__" not in path.parts}
    assert any(path.parent.name == "versions" and path.name != "__init__.py" for path in files)
    assert sorted(files - shipped) == []
