"""Flags and their environment variables: a bad value is a usage error naming both."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("env,value,words", [
    ("FASTVIDEO_UI_PORT", "abc", "argument --port: 'abc' is not a whole number"),
    ("FASTVIDEO_UI_STOP_GRACE", "soon", "argument --stop-grace: 'soon' is not a number"),
    ("FASTVIDEO_UI_MAX_CONNECTIONS", "1.5", "argument --max-connections: '1.5' is not a whole number"),
])
def test_a_bad_environment_value_is_a_usage_error(tmp_path: Path, env: str, value: str, words: str) -> None:
    done = subprocess.run([sys.executable, "-m", "fastvideo_ui.server", "--data-dir", str(tmp_path)],
                          env=dict(os.environ, **{env: value}), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert words in done.stderr and env in done.stderr
