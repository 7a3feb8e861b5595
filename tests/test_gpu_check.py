"""The prepared GPU check (scripts/gpu_check.py), run here as its CPU dry run.

On a GPU machine the script is the same path as tests/test_real_fastvideo.py;
here it runs on the CPU with the shims, so the script cannot rot between GPU
runs. It is its own file because it starts its own server and FastVideo
process: under xdist's per-file distribution it runs beside the module that
shares one real server, not after it.
"""

from __future__ import annotations

import subprocess

import pytest

from conftest import ROOT, real_python

pytestmark = pytest.mark.real_fastvideo


def test_the_prepared_gpu_check_passes_its_cpu_dry_run() -> None:
    done = subprocess.run([real_python(), str(ROOT / "scripts" / "gpu_check.py"), "--cpu-dry-run"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "job 1 (cold: worker start, load, generate): completed" in out and "steps seen: [" in out
    assert "stop at step" in out and ": stopped;" in out
    assert "job (lora 1.0): completed, load None, switch" in out and "job (none): completed" in out
    assert "runner overhead, cold:" in out and "runner overhead, warm:" in out
    assert out.rstrip().endswith("GPU check: passed (CPU dry run)")
