"""Faults across process boundaries: a full disk, kill -9 of the server, a storm of requests."""

from __future__ import annotations

import os
import shlex
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import Server

# A 64 KiB disk holds a small preview video and its poster (a few KB) but not
# an 832x480, 81-frame one (about 170 KB).
BIG = {"height": 480, "width": 832, "num_frames": 81, "num_inference_steps": 4}
DISK_BYTES = 64 * 1024


def integrity(server: Server) -> str:
    with sqlite3.connect(server.data_dir / "jobs.sqlite3") as db:
        return db.execute("PRAGMA integrity_check").fetchone()[0]


@pytest.fixture
def small_output_disk(tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    """A real 64 KiB tmpfs for the videos, and the prefix to run the server with.
    As root it is mounted here; otherwise the server runs in its own user and
    mount namespace (unshare) where it mounts the tmpfs itself."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(mount_point)]
    if subprocess.run(mount, capture_output=True).returncode == 0:
        yield mount_point, []
        subprocess.run(["umount", "-l", str(mount_point)], check=False)
        return
    prefix = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", f'{shlex.join(mount)} && exec "$@"', "sh"]
    probe = subprocess.run([*prefix, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.fail(f"cannot mount a small tmpfs here (not root, and unshare failed: {probe.stderr.strip()})")
    yield mount_point, prefix


def test_a_full_disk_fails_the_job_with_no_space_and_nothing_else(
        start_server: Callable[..., Server], small_output_disk: tuple[Path, list[str]]) -> None:
    output_dir, prefix = small_output_disk
    server = start_server("--output-dir", str(output_dir), command_prefix=prefix)
    done = server.create(start=True, prompt="fits")
    server.wait_status(done["id"], "completed")

    big = server.create(start=True, prompt="does not fit", **BIG)
    failed = server.wait_status(big["id"], "failed", "completed", timeout=120)
    assert failed["status"] == "failed", failed
    assert failed["error"].startswith("No space left"), failed["error"]
    assert "No space left" in server.log_text(big["id"])
    assert failed["video_url"] is None
    assert not list(output_dir.glob(f"{big['id']}*")), "the partial video was left behind"

    # The server, the database and the earlier job are fine, and the next job runs.
    assert server.health()["status"] == "ok"
    assert integrity(server) == "ok"
    assert server.client.get(f"/api/jobs/{done['id']}/video").status_code == 200
    after = server.create(start=True, prompt="fits again")
    assert server.wait_status(after["id"], "completed")["status"] == "completed"


def fill(directory: Path) -> Path:
    """Write a file until the disk under `directory` is full."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def test_a_full_log_disk_fails_the_job_with_no_space(
        start_server: Callable[..., Server], small_output_disk: tuple[Path, list[str]]) -> None:
    log_dir, prefix = small_output_disk
    if prefix:
        pytest.skip("the filler must be written inside the server's mount namespace")  # see the fixture
    server = start_server("--log-dir", str(log_dir))
    job = server.create(prompt="logs a line per step", num_inference_steps=2000)
    filler = fill(log_dir)
    server.client.post(f"/api/jobs/{job['id']}/start")
    failed = server.wait_status(job["id"], "failed", "completed", timeout=60)
    assert failed["status"] == "failed", failed
    assert failed["error"].startswith(f"No space left writing {log_dir / job['id']}.log"), failed["error"]
    assert server.health()["status"] == "ok" and integrity(server) == "ok"

    filler.unlink()
    again = server.create(start=True, prompt="room again")
    assert server.wait_status(again["id"], "completed")["status"] == "completed"
    assert "completed in" in server.log_text(again["id"])
