"""schemathesis over the server's own /openapi.json: no 5xx, and every response
(errors included) matches the schema: status code, content type, headers, body."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from conftest import PREVIEW, Server

TOKEN = "Zq4Hn8Wd2Rk6Vt0Ym3Bx7Lc5Jp9Gs1Fa"
# ignored_auth also sends each operation without the token and with a wrong one: a 401 each time.
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_headers_conformance,response_schema_conformance,ignored_auth")
# Cases per operation: 50 gives well over 1,000 cases in all (seconds here). FUZZ_EXAMPLES changes it.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))
MIN_CASES = 1000
LOCKED_OUT = "Too many wrong tokens"  # the lock-out's 429, not the full queue's

pytestmark = pytest.mark.slow  # schemathesis: over a thousand cases, against a server process


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


def fuzz(server: Server, directory: Path, examples: int, *extra: str) -> tuple[dict, str, Counter[str]]:
    """Run schemathesis's CLI; its JSON report, the tail of its output, and
    how many of its requests got each class of answer (2xx, 4xx, 429)."""
    st = Path(sys.executable).with_name("st")
    command = [
        str(st), "--config-file", str(directory / "schemathesis.toml"), "run", f"{server.url}/openapi.json",
        "--checks", CHECKS, *extra,
        # The event stream never ends by design; tests/test_api.py and the browser tests cover it.
        "--exclude-path", "/api/events",
        "--max-examples", str(examples), "--seed", "20261125", "--request-timeout", "20",
        "--report", "json,har", "--report-dir", str(directory / "report"),
        "--report-har-path", str(directory / "report" / "requests.har"),
    ]
    for old in (directory / "report").glob("*"):
        old.unlink()
    done = subprocess.run(command, capture_output=True, text=True, cwd=directory, timeout=900)
    report = json.loads(next((directory / "report").glob("*.json")).read_text())
    har = json.loads((directory / "report" / "requests.har").read_text())
    summary = done.stdout[-4000:]
    assert done.returncode == 0, summary
    assert report["failures"] == [] and report["errors"] == [], summary
    answers: Counter[str] = Counter()
    for entry in har["log"]["entries"]:
        status = entry["response"]["status"]
        locked_out = status == 429 and LOCKED_OUT in entry["response"]["content"].get("text", "")
        answers["locked out" if locked_out else f"{status // 100}xx"] += 1
    return report, summary, answers


def test_fuzzing_finds_no_5xx_and_no_schema_violation(start_server: Callable[..., Server], tmp_path: Path) -> None:
    # A small queue cap keeps a thousand fuzzed jobs from queueing hours of work.
    # Schemathesis's own checks send wrong tokens to every operation: at the
    # default lock-out (ten a minute) they locked this address out, and most of
    # the run then fuzzed nothing but 429s.
    server = start_server("--max-queued", "20", "--max-wrong-tokens", "1000000",
                          env={"FASTVIDEO_UI_API_TOKEN": TOKEN})
    server.client.headers["Authorization"] = f"Bearer {TOKEN}"
    job = server.create(start=True)
    server.wait_status(job["id"], "completed")
    (tmp_path / "schemathesis.toml").write_text(config(job["id"]))

    report, summary, answers = fuzz(server, tmp_path, EXAMPLES, "-H", f"Authorization: Bearer {TOKEN}",
                                    "--exclude-name", "POST /api/session")
    cases = report["test_cases"]["generated"]
    assert report["operations"]["tested"] >= 17, summary
    if EXAMPLES >= 50:
        assert cases >= MIN_CASES, summary
    print(f"schemathesis: {cases} cases over {report['operations']['tested']} operations, 0 failures; "
          f"answers: {dict(answers)}")
    assert answers["locked out"] == 0 and answers["2xx"] > 0, answers

    # Without the token: every protected route's 401 must match the schema too.
    report, summary, answers = fuzz(server, tmp_path, 5, "--exclude-name", "POST /api/session")
    print(f"schemathesis without the token: {report['test_cases']['generated']} cases, 0 failures; "
          f"answers: {dict(answers)}")
    assert answers["locked out"] == 0 and answers["4xx"] > 0, answers  # the 401s were fuzzed, not a lock-out
    report, summary, answers = fuzz(server, tmp_path, EXAMPLES, "--include-name", "POST /api/session")
    print(f"schemathesis signing in: {report['test_cases']['generated']} cases, 0 failures; "
          f"answers: {dict(answers)}")
    assert report["operations"]["tested"] == 1, summary
    assert httpx.get(server.url + "/api/health").json()["status"] == "ok"
    assert server.client.get("/api/jobs").status_code == 200  # the raised limit kept the made-up tokens' address in
