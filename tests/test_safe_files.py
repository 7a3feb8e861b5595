"""Files come only from inside the configured directories: no `..`, no symlink out, no stored path out."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from conftest import Server

SECRET = "root:x:0:0:the secret outside every configured directory\n"


def completed_job(server: Server) -> dict:
    job = server.create(start=True)
    return server.wait_status(job["id"], "completed")


def test_a_symlink_out_of_the_output_or_log_dir_is_not_followed(server: Server, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    job = completed_job(server)
    for path in (Path(job["output_path"]), server.data_dir / "outputs" / f"{job['id']}.jpg",
                 Path(job["log_file_path"])):
        assert path.is_file(), path
        path.unlink()
        path.symlink_to(secret)

    assert server.client.get(f"/api/jobs/{job['id']}/video").status_code == 404
    assert server.client.head(f"/api/jobs/{job['id']}/video").status_code == 404
    assert server.client.get(f"/api/jobs/{job['id']}/poster").status_code == 404
    assert server.client.get(f"/api/jobs/{job['id']}/download_log").status_code == 404
    page = server.client.get(f"/api/jobs/{job['id']}/logs").json()
    assert page["lines"] == [] and page["total"] == 0

    # Running it again appends to its log: never through the symlink.
    server.client.post(f"/api/jobs/{job['id']}/start")
    server.wait_status(job["id"], "completed", "failed")
    assert secret.read_text() == SECRET


def test_a_stored_path_outside_the_output_dir_is_not_served(server: Server) -> None:
    job = completed_job(server)
    with sqlite3.connect(server.data_dir / "jobs.sqlite3") as db:
        db.execute("UPDATE jobs SET output_path = '/etc/passwd', poster_path = ? WHERE id = ?",
                   (str(server.data_dir / "outputs" / ".." / "jobs.sqlite3"), job["id"]))
    assert server.client.get(f"/api/jobs/{job['id']}/video").status_code == 404
    assert server.client.get(f"/api/jobs/{job['id']}/poster").status_code == 404


def test_dot_dot_in_a_job_id_names_no_file(server: Server) -> None:
    job = completed_job(server)
    for job_id in (f"..%2F{job['id']}", f"{job['id']}%2F..%2F..%2Fjobs.sqlite3", "..", "%2e%2e",
                   f"{job['id']}.mp4", f"{job['id'][:-1]}/"):
        for suffix in ("", "/video", "/poster", "/logs", "/download_log"):
            response = server.client.get(f"/api/jobs/{job_id}{suffix}")
            assert response.status_code in (404, 307), (job_id, suffix, response.status_code)
            assert b"SQLite format" not in response.content
