"""schemathesis over the server's own /openapi.json: no 5xx, and every response
(errors included) matches the schema: status code, content type, headers, body."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from conftest import PREVIEW, Server

TOKEN = "fuzz-token-0123456789abcdef"
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_headers_conformance,response_schema_conformance")
# Cases per operation: 50 gives well over 1,000 cases in all (seconds here). FUZZ_EXAMPLES changes it.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))
MIN_CASES = 1000


def config(completed_job_id: str) -> str:
    """Half the bodies name a real model, so creation is fuzzed past the model check;
    file operations sometimes get a job that has files."""
    return f'''
[dictionaries.models]
values = ["{PREVIEW}"]

[parameters]
"body.model_id" = {{ dictionary = "models", probability = 0.5 }}

[[operations]]
include-path-regex = "/(video|poster|download_log|logs)$"
parameters = {{ "path.job_id" = "{completed_job_id}" }}

# A model id holds a slash, which schemathesis never generates for a path
# parameter; the weights routes get a real id (one without weights: no download).
[[operations]]
include-path-regex = "^/api/models/.+/(download|weights)$"
parameters = {{ "path.model_id" = "{PREVIEW}" }}
'''


def fuzz(server: Server, directory: Path, examples: int, *extra: str) -> tuple[dict, str]:
    """Run schemathesis's CLI; its JSON report and the tail of its output."""
    st = Path(sys.executable).with_name("st")
    command = [
        str(st), "--config-file", str(directory / "schemathesis.toml"), "run", f"{server.url}/openapi.json",
        "--checks", CHECKS, *extra,
        # The event stream never ends by design; tests/test_api.py and the browser tests cover it.
        "--exclude-path", "/api/events",
        "--max-examples", str(examples), "--seed", "20261125", "--request-timeout", "20",
        "--report", "json", "--report-dir", str(directory / "report"),
    ]
    for old in (directory / "report").glob("*.json"):
        old.unlink()
    done = subprocess.run(command, capture_output=True, text=True, cwd=directory, timeout=900)
    report = json.loads(next((directory / "report").glob("*.json")).read_text())
    summary = done.stdout[-4000:]
    assert done.returncode == 0, summary
    assert report["failures"] == [] and report["errors"] == [], summary
    return report, summary


def test_fuzzing_finds_no_5xx_and_no_schema_violation(start_server: Callable[..., Server], tmp_path: Path) -> None:
    # A small queue cap keeps a thousand fuzzed jobs from queueing hours of work.
    server = start_server("--max-queued", "20", env={"FASTVIDEO_UI_API_TOKEN": TOKEN})
    server.client.headers["Authorization"] = f"Bearer {TOKEN}"
    job = server.create(start=True)
    server.wait_status(job["id"], "completed")
    (tmp_path / "schemathesis.toml").write_text(config(job["id"]))

    # Signing in is fuzzed last, on its own: its made-up tokens count against this
    # address, which is then refused (429) even with the right token for a minute.
    report, summary = fuzz(server, tmp_path, EXAMPLES, "-H", f"Authorization: Bearer {TOKEN}",
                           "--exclude-name", "POST /api/session")
    cases = report["test_cases"]["generated"]
    assert report["operations"]["tested"] >= 17, summary
    if EXAMPLES >= 50:
        assert cases >= MIN_CASES, summary
    print(f"schemathesis: {cases} cases over {report['operations']['tested']} operations, 0 failures")

    # Without the token: every protected route's 401 must match the schema too.
    report, summary = fuzz(server, tmp_path, 5, "--exclude-name", "POST /api/session")
    print(f"schemathesis without the token: {report['test_cases']['generated']} cases, 0 failures")
    report, summary = fuzz(server, tmp_path, EXAMPLES, "--include-name", "POST /api/session")
    print(f"schemathesis signing in: {report['test_cases']['generated']} cases, 0 failures")
    assert report["operations"]["tested"] == 1, summary
    assert httpx.get(server.url + "/api/health").json()["status"] == "ok"
    assert server.client.get("/api/jobs").status_code == 429  # locked out by the made-up tokens
