"""The client commands of `fastvideo-ui`, run as a user runs them, against a
real server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import LONG, PREVIEW, Server, wait_for

TOKEN = "cli-_zHojitn0q2HWkeuptzgucG4KKUX"


def cli(server: Server, *args: str, token: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ, FASTVIDEO_UI_SERVER=server.url, COLUMNS="200")
    env.pop("FASTVIDEO_UI_API_TOKEN", None)
    if token:
        env["FASTVIDEO_UI_API_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "fastvideo_ui.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


@pytest.mark.slow
def test_submit_waits_shows_progress_downloads_and_exits_zero(server: Server, tmp_path: Path) -> None:
    out = tmp_path / "fox.mp4"
    done = cli(server, "submit", "a fox in the snow", "--model", PREVIEW, "--steps", "3000", "--size", "256x256",
               "--frames", "9", "--seed", "7", "--priority", "3", "--webhook", "https://hooks.example.com/v",
               "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_bytes()[4:8] == b"ftyp" and not out.with_name("fox.mp4.part").exists()
    assert done.stdout.strip().endswith(str(out))
    # Piped, progress is plain lines: the phases in order, and the steps.
    phases = [line.split()[1] for line in done.stdout.splitlines()[:-1]]
    assert phases[-1] == "done" and "denoising" in phases and phases.index("denoising") < phases.index("done")
    assert "/3000 steps" in done.stdout
    job = server.client.get("/api/jobs").json()[0]
    assert (job["prompt"], job["num_inference_steps"], job["width"], job["height"], job["seed"], job["priority"],
            job["webhook_url"]) == ("a fox in the snow", 3000, 256, 256, 7, 3, "https://hooks.example.com/v")
    # Without --wait it prints the id and returns.
    quick = cli(server, "submit", "pending one", "--model", PREVIEW, "--no-start")
    assert quick.returncode == 0 and server.job(quick.stdout.strip())["status"] == "pending"


@pytest.mark.slow
def test_a_refused_or_failed_job_exits_non_zero_saying_why(server: Server) -> None:
    refused = cli(server, "submit", "a fox", "--model", PREVIEW, "--size", "63x64")
    assert refused.returncode == 2 and "width" in refused.stderr
    bad_size = cli(server, "submit", "a fox", "--model", PREVIEW, "--size", "big")
    assert bad_size.returncode == 2 and "WIDTHxHEIGHT" in bad_size.stderr
    stopped = subprocess.Popen([sys.executable, "-m", "fastvideo_ui.cli", "submit", "long", "--model", PREVIEW,
                                "--steps", str(LONG["num_inference_steps"]), "--wait"],
                               env=dict(os.environ, FASTVIDEO_UI_SERVER=server.url), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    running = wait_for(lambda: next((j for j in server.client.get("/api/jobs").json() if j["prompt"] == "long"
                                     and j["status"] == "running"), None), timeout=30)
    assert cli(server, "stop", running["id"][:8]).returncode == 0  # a unique start of the id will do
    _, stderr = stopped.communicate(timeout=30)
    assert stopped.returncode == 1 and "stopped" in stderr
    unreachable = subprocess.run([sys.executable, "-m", "fastvideo_ui.cli", "jobs", "--server",
                                  "http://127.0.0.1:9"], capture_output=True, text=True, timeout=30)
    assert unreachable.returncode == 3 and "cannot reach" in unreachable.stderr


@pytest.mark.slow
def test_jobs_logs_download_rm_models_and_gpus(server: Server, tmp_path: Path) -> None:
    job = server.create(start=True, prompt="a lighthouse")
    server.wait_status(job["id"], "completed")
    listed = cli(server, "jobs", "--status", "completed")
    assert listed.returncode == 0 and job["id"][:8] in listed.stdout and "a lighthouse" in listed.stdout
    assert job["id"][:8] not in cli(server, "jobs", "--search", "nothing like it").stdout
    logs = cli(server, "logs", job["id"], "-f")
    assert logs.returncode == 0 and "completed in" in logs.stdout
    target = tmp_path / "saved.mp4"
    assert cli(server, "download", job["id"][:8], "-o", str(target)).returncode == 0
    assert target.read_bytes()[4:8] == b"ftyp"
    models = cli(server, "models")
    assert models.returncode == 0 and PREVIEW in models.stdout
    gpus = cli(server, "gpus")
    assert gpus.returncode == 0 and "no GPUs" in gpus.stdout
    assert cli(server, "rm", job["id"]).returncode == 0
    assert server.client.get(f"/api/jobs/{job['id']}").status_code == 404
    missing = cli(server, "logs", "ffffffff")
    assert missing.returncode == 2 and "no job id starts with" in missing.stderr


def test_download_says_why_a_job_has_no_video(server: Server, tmp_path: Path) -> None:
    job = server.create(start=True, **LONG)
    server.wait_status(job["id"], "running")
    server.client.post(f"/api/jobs/{job['id']}/stop")
    server.wait_status(job["id"], "stopped")
    target = tmp_path / "none.mp4"
    refused = cli(server, "download", job["id"][:8], "-o", str(target))
    assert refused.returncode == 2, refused.stderr
    assert f"job {job['id']} was stopped before it made a video" in refused.stderr
    assert not target.exists() and not target.with_name("none.mp4.part").exists()


def test_the_token_comes_from_the_environment(start_server: Callable[..., Server]) -> None:
    server = start_server(env={"FASTVIDEO_UI_API_TOKEN": TOKEN})
    refused = cli(server, "jobs")
    assert refused.returncode == 2 and "token" in refused.stderr.lower()
    assert cli(server, "jobs", token=TOKEN).returncode == 0


def test_a_multi_line_prompt_is_sent_as_one_line(server: Server) -> None:
    # The server refuses line breaks in a prompt; `submit "$(cat prompt.txt)"` still works.
    done = cli(server, "submit", "a fox\r\n  in the\n\nsnow\n", "--negative", "blur\nugly", "--model", PREVIEW,
               "--no-start")
    assert done.returncode == 0, done.stderr
    job = server.job(done.stdout.strip())
    assert (job["prompt"], job["negative_prompt"]) == ("a fox in the snow", "blur ugly")


def test_ctrl_c_while_waiting_names_the_job_the_server_keeps(server: Server) -> None:
    waiting = subprocess.Popen([sys.executable, "-m", "fastvideo_ui.cli", "submit", "long", "--model", PREVIEW,
                                "--steps", str(LONG["num_inference_steps"]), "--wait"],
                               env=dict(os.environ, FASTVIDEO_UI_SERVER=server.url), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    running = wait_for(lambda: next((j for j in server.client.get("/api/jobs").json() if j["prompt"] == "long"
                                     and j["status"] == "running"), None), timeout=30)
    waiting.send_signal(signal.SIGINT)
    _, stderr = waiting.communicate(timeout=30)
    assert waiting.returncode == 130, stderr
    assert f"the server keeps job {running['id']}" in stderr and f"`fastvideo-ui stop {running['id'][:8]}`" in stderr
    assert server.job(running["id"])["status"] == "running"


@pytest.mark.slow
def test_submit_image_uploads_the_picture_and_the_job_names_it(server: Server, tmp_path: Path) -> None:
    import hashlib
    import io

    from PIL import Image

    picture = tmp_path / "cat.png"
    out = io.BytesIO()
    Image.new("RGB", (96, 64), (30, 160, 90)).save(out, format="PNG")
    picture.write_bytes(out.getvalue())
    done = cli(server, "submit", "the picture moves", "--model", PREVIEW, "--image", str(picture), "--size",
               "96x64", "--frames", "5", "--steps", "2", "--json", "--wait")
    assert done.returncode == 0, done.stderr
    job = server.job(server.client.get("/api/jobs").json()[0]["id"])
    assert job["status"] == "completed" and job["image"]
    stored = server.client.get(job["image_url"])
    assert hashlib.sha256(stored.content).hexdigest() == job["image"]
    # A file that is not there, or not a picture, is an error on --image (exit 2), and no job is made.
    missing = cli(server, "submit", "p", "--model", PREVIEW, "--image", str(tmp_path / "nope.png"))
    assert missing.returncode == 2 and "--image: cannot read" in missing.stderr and "nope.png" in missing.stderr
    (tmp_path / "notes.txt").write_text("not a picture")
    junk = cli(server, "submit", "p", "--model", PREVIEW, "--image", str(tmp_path / "notes.txt"))
    assert junk.returncode == 2 and "--image:" in junk.stderr and "notes.txt" in junk.stderr, junk.stderr
    assert len(server.client.get("/api/jobs").json()) == 1
