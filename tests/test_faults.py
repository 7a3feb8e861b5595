"""Faults across process boundaries: a full disk, kill -9 of the server, a storm of requests."""

from __future__ import annotations

from collections import Counter
import os
import random
import shlex
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from conftest import PREVIEW, WAN, FakeFastVideo, Server, wait_for

# A 64 KiB disk holds a small preview video and its poster (a few KB) but not
# an 832x480, 81-frame one (about 170 KB).
BIG = {"height": 480, "width": 832, "num_frames": 81, "num_inference_steps": 4}
DISK_BYTES = 64 * 1024

pytestmark = pytest.mark.slow  # kill -9 soaks, full disks and request storms, each on a server process


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


# -- kill -9 during a mixed workload ----------------------------------------------

KILLS = 20


class Workload:
    """Creates, starts, stops and deletes jobs from a thread until told to stop,
    remembering which jobs it has seen completed and which it asked to delete."""

    def __init__(self, server: Server, rng: random.Random) -> None:
        self.server = server
        self.rng = rng
        self.completed: set[str] = set()
        self.deleted: set[str] = set()  # asked to: the answer may have died with the server
        self.halt = threading.Event()

    def run(self) -> None:
        client = httpx.Client(base_url=self.server.url, timeout=5)
        try:
            while not self.halt.is_set():
                self.step(client)
        except httpx.HTTPError:
            pass  # the server was killed under us
        finally:
            client.close()

    def step(self, client: httpx.Client) -> None:
        roll = self.rng.random()
        if roll < 0.45:
            steps = self.rng.choice([2, 5, 40, 400])
            client.post("/api/jobs", json={"model_id": PREVIEW, "prompt": f"kill test {roll:.4f}", "start": True,
                                           "height": 64, "width": 64, "num_frames": 4,
                                           "num_inference_steps": steps})
        jobs = client.get("/api/jobs", params={"limit": 50}).json()
        self.completed.update(job["id"] for job in jobs if job["status"] == "completed")
        if not jobs:
            return
        job = self.rng.choice(jobs)
        if roll >= 0.9 and job["id"] in self.completed:
            self.deleted.add(job["id"])
            client.delete(f"/api/jobs/{job['id']}")
        elif roll >= 0.75 and "stop" in job["actions"]:
            client.post(f"/api/jobs/{job['id']}/stop")
        elif roll >= 0.6 and "start" in job["actions"]:
            client.post(f"/api/jobs/{job['id']}/start")


def test_kill_9_twenty_times_loses_nothing(start_server: Callable[..., Server], tmp_path: Path) -> None:
    rng = random.Random(5)
    server = start_server("--cpu-slots", "2", data_dir=tmp_path / "killed")
    workload = Workload(server, rng)
    survived = 0
    for round_number in range(KILLS):
        thread = threading.Thread(target=workload.run)
        workload.halt.clear()
        thread.start()
        time.sleep(rng.uniform(0.3, 2.5))
        server.kill9()
        workload.halt.set()
        thread.join(10)

        assert integrity(server) == "ok", f"round {round_number}"
        server.start()
        jobs = {job["id"]: job for job in server.client.get("/api/jobs").json()}
        lost = [job_id for job_id in workload.completed - workload.deleted
                if jobs.get(job_id, {}).get("status") != "completed"]
        assert not lost, f"round {round_number}: completed jobs lost: {lost}"
        for job_id in workload.completed - workload.deleted:
            assert server.client.head(f"/api/jobs/{job_id}/video").status_code == 200, job_id
        # Running since before this server started = left over from the killed one.
        booted = time.time() - server.health()["uptime_s"] - 0.2
        stuck = [job_id for job_id, job in jobs.items()
                 if job["status"] == "running" and job["started_at"] < booted]
        assert not stuck, f"round {round_number}: stuck running: {stuck}"
        survived += 1

    # Let what is queued finish; nothing ends up running forever.
    for job in server.client.get("/api/jobs", params={"status": "queued,running"}).json():
        server.client.post(f"/api/jobs/{job['id']}/stop")
    wait_for(lambda: not server.client.get("/api/jobs", params={"status": "queued,running"}).json(),
             timeout=60, what="every job to settle")
    assert survived == KILLS and len(workload.completed - workload.deleted) > KILLS
    interrupted = [job for job in server.client.get("/api/jobs", params={"status": "failed"}).json()
                   if "the server stopped while this job was running" in (job["error"] or "")]
    assert interrupted, "no kill landed while a job ran: the test did not test recovery"
    print(f"kill -9 survived {survived} times; {len(workload.completed)} jobs completed, none lost; "
          f"{len(interrupted)} interrupted runs marked failed")


# -- a storm of start/stop/delete on one job -----------------------------------------

class HolderSampler(threading.Thread):
    """Samples /api/health until stopped: how many workers held `job_id` at once,
    and how many GPUs were handed to it."""

    def __init__(self, server: Server, job_id: str) -> None:
        super().__init__(daemon=True)
        self.client = httpx.Client(base_url=server.url, timeout=10)
        self.job_id = job_id
        self.max_workers = 0
        self.max_devices = 0
        self.samples = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                health = self.client.get("/api/health").json()
            except httpx.HTTPError:
                return  # the test is over
            holders = [w for w in health["workers"] if w["job_id"] == self.job_id]
            devices = [d for d, j in health["devices"]["allocated"].items() if j == self.job_id]
            self.max_workers = max(self.max_workers, len(holders))
            self.max_devices = max(self.max_devices, len(devices))
            self.samples += 1


def test_a_hundred_concurrent_start_stop_delete_on_one_job(fastvideo: Callable[..., FakeFastVideo]) -> None:
    # Two GPUs, so a double dispatch would have somewhere to go.
    fake = fastvideo("--gpus", "0,1", "--stop-grace", "2")
    server = fake.server
    rng = random.Random(7)
    # Storms 0-4 mix in deletes (which end them early: a deleted job is 404 to the
    # rest); 5-7 only start and stop, so the job is queued, dispatched and
    # stopped over and over while the requests land.
    for storm in range(8):
        prompt = f"storm {storm}"
        # Some storms hit a pending job, some a running one (where delete must stop it first).
        job = server.create(model_id=WAN, prompt=prompt, height=64, width=64, num_frames=5,
                            num_inference_steps=100, start=2 <= storm < 5)
        if 2 <= storm < 5:
            server.wait_status(job["id"], "running")
        sampler = HolderSampler(server, job["id"])
        sampler.start()
        deletes = 10 if storm < 5 else 0
        actions = ["start"] * 45 + ["stop"] * (55 - deletes) + ["delete"] * deletes
        rng.shuffle(actions)
        gate = threading.Barrier(len(actions))

        def act(action: str, gate: threading.Barrier = gate, job_id: str = job["id"]) -> int:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                gate.wait()
                if action == "delete":
                    return client.delete(f"/api/jobs/{job_id}").status_code
                return client.post(f"/api/jobs/{job_id}/{action}").status_code

        with ThreadPoolExecutor(len(actions)) as pool:
            codes = list(pool.map(act, actions))
        assert set(codes) <= {200, 404, 409}, sorted(set(codes))
        starts_accepted = (sum(1 for a, c in zip(actions, codes, strict=True) if a == "start" and c == 200)
                           + (2 <= storm < 5))

        def settled(job_id: str = job["id"]) -> bool:
            response = server.client.get(f"/api/jobs/{job_id}")
            health = server.health()
            idle = not health["devices"]["allocated"] and not any(w["job_id"] for w in health["workers"])
            return idle and (response.status_code == 404
                             or response.json()["status"] in ("completed", "stopped", "failed"))

        wait_for(settled, timeout=60, what="the job to settle")
        sampler.halt.set()
        sampler.join(10)
        assert sampler.samples > 10
        assert sampler.max_workers <= 1 and sampler.max_devices <= 1, (sampler.max_workers, sampler.max_devices)
        generations = [e for e in fake.events("generate") if e["prompt"] == prompt]
        assert len(generations) <= starts_accepted
        print(f"storm {storm}: {Counter(zip(actions, codes, strict=True))}, {len(generations)} runs, "
              f"{sampler.samples} samples")

        response = server.client.get(f"/api/jobs/{job['id']}")
        if response.status_code == 404:  # deleted: nothing of it is left
            assert not list(server.data_dir.rglob(f"{job['id']}*"))
            assert any(c == 200 for a, c in zip(actions, codes, strict=True) if a == "delete")
        else:
            final = response.json()
            assert (final["video_url"] is not None) == (final["status"] == "completed")
            assert not any(c == 200 for a, c in zip(actions, codes, strict=True) if a == "delete")
            server.client.delete(f"/api/jobs/{job['id']}")
