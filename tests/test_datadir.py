"""One server per data directory: a second refuses, naming the first."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from conftest import LONG, Server, free_port

pytestmark = pytest.mark.slow  # every test here starts the server as a process


def test_a_second_server_on_the_same_data_dir_refuses(start_server: Callable[..., Server]) -> None:
    first = start_server()
    job = first.create(start=True, **LONG)
    first.wait_status(job["id"], "running")
    assert first.proc is not None
    second = subprocess.run([sys.executable, "-m", "fastvideo_ui.server", "--port", str(free_port()),
                             "--data-dir", str(first.data_dir)], capture_output=True, text=True, timeout=60)
    assert second.returncode == 1
    assert f"another fastvideo-ui server (pid {first.proc.pid}) is using {first.data_dir}" in second.stderr
    assert "Traceback" not in second.stderr
    # The first never noticed: its job runs on, on its device.
    assert first.job(job["id"])["status"] == "running" and first.health()["status"] == "ok"


def test_the_lock_goes_with_the_process_even_on_kill_9(start_server: Callable[..., Server]) -> None:
    first = start_server()
    first.kill9()
    again = start_server(data_dir=first.data_dir)
    assert again.health()["status"] == "ok"



def test_a_directory_that_cannot_be_made_is_one_line_naming_its_flag(tmp_path: Path) -> None:
    done = _serve(Path("/dev/null/data"))
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr  # a NotADirectoryError traceback
    assert "--data-dir /dev/null/data: cannot make it a directory (Not a directory)" in done.stderr
    done = _serve(tmp_path / "data", "--output-dir", "/dev/null/videos")
    assert done.returncode == 1 and "--output-dir /dev/null/videos: cannot make it" in done.stderr


def test_a_damaged_database_is_one_line_naming_the_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "jobs.sqlite3").write_bytes(b"this is not a database, it was overwritten" * 100)
    done = _serve(data)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"{data / 'jobs.sqlite3'} is not a usable SQLite database" in done.stderr
    assert "restore it from a backup" in done.stderr


def test_an_emptied_database_beside_videos_is_not_replaced(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "outputs").mkdir(parents=True)
    (data / "outputs" / "kept.mp4").write_bytes(b"video")
    (data / "jobs.sqlite3").write_bytes(b"")
    done = _serve(data)
    assert done.returncode == 1 and "is empty (0 bytes) while videos exist" in done.stderr
    assert (data / "jobs.sqlite3").stat().st_size == 0  # left as it was, for the user to look at


def _serve(data: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fastvideo_ui.server", "--port", str(free_port()),
                           "--data-dir", str(data), *flags], capture_output=True, text=True, timeout=60)
