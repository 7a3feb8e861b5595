"""What the CLI prints: the server's text as it is (Rich markup never reads
it), model ids whole at any width, since they are copied into commands, one
record a line into a pipe, JSON for scripts, and the flags a user typed; and
the commands a new user reaches for (several ids, a log's tail)."""

from __future__ import annotations

import io
import json
import re
import threading
from pathlib import Path

import httpx
import pytest

from conftest import LONG, PREVIEW, Server, wait_for
from fastvideo_ui.cli import build_parser, main
from fastvideo_ui.cli_output import compact_age, compact_run_time, video_file_name
from fastvideo_ui.client import Client
from fastvideo_ui.commands import again, plain_console, run_client_command

ADVICE = "pip install 'fastvideo-ui[fastvideo]'"  # the catalogue's reason without FastVideo
WAN = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
JOB_ID = "71a8364d-0000-4000-8000-000000000000"


def run(server: Server, *argv: str, width: int = 80) -> tuple[int, str, str]:
    """A client command in this process, printing to consoles of a set width
    (a terminal, or a pipe, which Rich takes to be 80 columns)."""
    out, err = io.StringIO(), io.StringIO()
    args = build_parser().parse_args([*argv, "--server", server.url])
    code = run_client_command(args, plain_console(file=out, width=width), plain_console(file=err, width=width))
    return code, out.getvalue(), err.getvalue()


def test_models_prints_ids_and_install_advice_whole_at_any_width(server: Server) -> None:
    ids = [model["id"] for model in server.client.get("/api/models").json()]
    assert WAN in ids and max(map(len, ids)) > 30
    for width in (80, 40, 160):
        code, out, _ = run(server, "models", width=width)
        assert code == 0
        lines = out.splitlines()
        for whole in (*ids, ADVICE):
            assert any(whole in line for line in lines), f"{whole} cut at {width} columns:\n{out}"


def test_errors_and_prompts_keep_their_brackets(server: Server) -> None:
    code, _, err = run(server, "submit", "a fox", "--model", WAN)
    assert code == 2 and ADVICE in err and err.startswith("error: --model:")
    prompt = "a [bold]fox[/bold] on [/snow] x"  # a stray closing tag made Rich raise
    job = server.create(prompt=prompt)
    code, out, _ = run(server, "jobs", width=200)
    assert code == 0 and prompt in out and job["id"][:8] in out


def test_the_server_option_goes_before_or_after_the_command(server: Server) -> None:
    for argv in (["--server", server.url, "models"], ["models", "--server", server.url]):
        args = build_parser().parse_args(argv)
        assert args.server == server.url, argv
        out = io.StringIO()
        assert run_client_command(args, plain_console(file=out), plain_console(file=io.StringIO())) == 0
        assert PREVIEW in out.getvalue()
    assert build_parser().parse_args(["jobs"]).server is None  # FASTVIDEO_UI_SERVER, else the default


def test_serve_refuses_the_client_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--server", "http://127.0.0.1:9", "serve", "--data-dir", "/dev/null/never"])  # never starts
    assert "--server is for the client commands" in capsys.readouterr().err


def test_a_refusal_names_the_flags_the_user_typed(server: Server) -> None:
    code, _, err = run(server, "submit", "a fox", "--model", PREVIEW, "--steps", "0", "--size", "60x64", width=300)
    assert code == 2 and err.startswith("error: --steps: "), err
    assert "; --size (width): " in err and "num_inference_steps" not in err
    code, _, err = run(server, "submit", "a fox", "--model", PREVIEW, "--webhook", "ftp://example.com/x")
    assert code == 2 and err.startswith("error: --webhook: "), err
    code, _, err = run(server, "submit", "a fox", "--model", WAN)
    assert code == 2 and err.startswith("error: --model: "), err


def piped(server: Server, *argv: str) -> tuple[int, str, str]:
    """A client command printing as it does into a pipe: consoles on files that
    are not terminals, of no set width."""
    out, err = io.StringIO(), io.StringIO()
    args = build_parser().parse_args([*argv, "--server", server.url])
    code = run_client_command(args, plain_console(file=out), plain_console(file=err))
    return code, out.getvalue(), err.getvalue()


def test_piped_output_keeps_each_job_model_and_error_on_one_line(server: Server,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)  # as in a user's shell: Rich took a pipe to be 80 columns
    long_prompt = "a red fox walking through deep fresh snow at dawn, " * 3
    jobs = [server.create(prompt=long_prompt.strip()), server.create(prompt="a lighthouse")]
    code, out, _ = piped(server, "jobs")
    header, *rows = out.splitlines()
    assert code == 0 and [row.split()[0] for row in rows] == [job["id"][:8] for job in reversed(jobs)], out
    assert all(line == line.rstrip() for line in out.splitlines())
    code, out, _ = piped(server, "models")
    ids = [model["id"] for model in server.client.get("/api/models").json()]
    assert code == 0 and len([line for line in out.splitlines() if not line.startswith("(")]) == 1 + len(ids), out
    code, _, err = piped(server, "submit", "a fox", "--model", WAN)
    assert code == 2 and err.count("\n") == 1 and ADVICE in err, err


def test_json_and_quiet_output_for_scripts(server: Server) -> None:
    code, out, _ = piped(server, "submit", "a fox", "--model", PREVIEW, "--no-start", "--json")
    created = json.loads(out)
    assert code == 0 and server.job(created["id"])["status"] == "pending" == created["status"]
    code, out, err = piped(server, "submit", "a lighthouse", "--model", PREVIEW, "--steps", "4", "--frames", "5",
                           "--size", "64x64", "--wait", "--json")
    done = json.loads(out)  # the progress went to stderr
    assert code == 0 and done["status"] == "completed" and done == server.job(done["id"]), out
    assert f"{done['id'][:8]} done" in err
    code, out, _ = piped(server, "jobs", "--json")
    assert code == 0 and json.loads(out) == server.client.get("/api/jobs?limit=20").json()
    code, out, _ = piped(server, "jobs", "-q", "--status", "pending")
    assert code == 0 and out.splitlines() == [created["id"]]
    code, out, _ = piped(server, "models", "--json")
    assert code == 0 and json.loads(out) == server.client.get("/api/models").json()


def test_a_terminal_sees_the_job_id_before_the_progress_bar(server: Server) -> None:
    out, err = io.StringIO(), io.StringIO()
    args = build_parser().parse_args(["submit", "a fox", "--model", PREVIEW, "--steps", "4", "--frames", "5",
                                      "--size", "64x64", "--wait", "--server", server.url])
    terminal = {"force_terminal": True, "width": 100}
    assert run_client_command(args, plain_console(file=out, **terminal), plain_console(file=err, **terminal)) == 0
    job_id = server.client.get("/api/jobs").json()[0]["id"]
    shown = out.getvalue()
    assert f"job {job_id}" in shown and shown.index(job_id) < shown.index("steps"), shown


def test_a_suggested_command_keeps_the_server_it_was_given() -> None:
    given = build_parser().parse_args(["jobs", "--server", "http://gpu-box:8189"])
    assert again(given, "stop", "71a8364d") == "fastvideo-ui --server http://gpu-box:8189 stop 71a8364d"
    assert again(build_parser().parse_args(["jobs"]), "download", "a b") == "fastvideo-ui download 'a b'"


def test_waiting_without_o_prints_where_to_fetch_the_video(server: Server, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = piped(server, "submit", "A lighthouse, at night!", "--model", PREVIEW, "--steps", "4",
                         "--frames", "5", "--size", "64x64", "--wait")
    job = server.client.get("/api/jobs").json()[0]
    name = f"{job['id'][:8]}-a-lighthouse-at-night.mp4"
    assert code == 0 and job["output_path"] not in out, out
    assert f"{server.url}/api/jobs/{job['id']}/video" in out
    assert f"fastvideo-ui --server {server.url} download {job['id'][:8]} -o {name}" in out
    monkeypatch.chdir(tmp_path)
    code, out, _ = piped(server, "download", job["id"][:8])
    assert code == 0 and (tmp_path / name).read_bytes()[4:8] == b"ftyp" and out.strip() == name


@pytest.mark.parametrize(("prompt", "name"), [
    ("a red fox in the snow", "71a8364d-a-red-fox-in-the-snow.mp4"),
    ("../../etc/passwd", "71a8364d-etc-passwd.mp4"),
    ('C:\\x <y> "z" | w? * : v', "71a8364d-c-x-y-z-w-v.mp4"),
    ("Un RENARD roux, près du café", "71a8364d-un-renard-roux-près-du-café.mp4"),
    ("!!! ...", "71a8364d.mp4"),
    ("", "71a8364d.mp4"),
])
def test_a_video_is_named_from_its_short_id_and_prompt(prompt: str, name: str) -> None:
    assert video_file_name("71a8364d-0000-4000-8000-000000000000", prompt) == name


def test_a_video_name_is_bounded() -> None:
    for prompt in ("fox " * 3000, "x" * 10_000, "狐" * 10_000, "a-b_c " * 500):
        name = video_file_name("71a8364d-0000-4000-8000-000000000000", prompt)
        assert name.startswith("71a8364d-") and name.endswith(".mp4") and "/" not in name
        assert len(name) <= 60 and len(name.encode()) < 255 and "--" not in name and "-.mp4" not in name


def test_jobs_shows_age_run_time_and_steps(server: Server) -> None:
    done = server.create(start=True, prompt="a lighthouse", num_inference_steps=4, num_frames=5)
    server.wait_status(done["id"], "completed")
    waiting = server.create(prompt="a fox", num_inference_steps=7)
    code, out, _ = piped(server, "jobs")
    header, *rows = out.splitlines()
    assert code == 0 and header.split() == ["id", "status", "age", "run", "steps", "model", "progress", "prompt"]
    pending, completed = (row.split() for row in rows)
    assert pending[:2] == [waiting["id"][:8], "pending"] and re.fullmatch(r"\d+s", pending[2])
    assert pending[3:5] == ["-", "0/7"]
    assert completed[:2] == [done["id"][:8], "completed"] and completed[4] == "4/4"
    assert re.fullmatch(r"\d+s", completed[2]) and re.fullmatch(r"\d+s", completed[3])


@pytest.mark.parametrize(("seconds", "age", "run"), [
    (0.4, "0s", "0s"), (59, "59s", "59s"), (65, "1m", "1m05s"), (3725, "1h", "1h02m"),
    (2 * 86400 + 3 * 3600 + 60, "2d", "2d03h"), (-3, "0s", "0s"),  # a server clock ahead of ours
])
def test_ages_and_run_times_are_compact(seconds: float, age: str, run: str) -> None:
    assert (compact_age(seconds), compact_run_time(seconds)) == (age, run)


def test_stop_and_rm_take_several_ids_and_act_on_none_if_one_is_wrong(server: Server) -> None:
    first, second = (server.create(start=True, prompt=f"long {n}", **LONG) for n in (1, 2))
    server.wait_status(first["id"], "running")
    code, out, err = piped(server, "stop", first["id"][:8], second["id"])
    assert code == 0 and out.splitlines() == [f"{first['id']} stopped", f"{second['id']} stopped"], err
    code, _, err = piped(server, "rm", first["id"], "ffffffff")
    assert code == 2 and "ffffffff" in err and server.job(first["id"])["status"] == "stopped"
    code, out, _ = piped(server, "rm", first["id"][:8], second["id"][:8], first["id"])
    assert code == 0 and out.splitlines() == [f"{first['id']} deleted", f"{second['id']} deleted"]
    assert server.client.get("/api/jobs").json() == []


def test_an_ambiguous_id_lists_the_jobs_it_could_be(server: Server) -> None:
    jobs = [server.create(prompt=f"job {n}") for n in range(17)]  # two of 17 share a first hex digit
    start = next(job["id"][0] for job in jobs if sum(other["id"][0] == job["id"][0] for other in jobs) > 1)
    code, _, err = piped(server, "logs", start)
    assert code == 2 and "is the start of more than one job id" in err
    matching = [job for job in jobs if job["id"].startswith(start)]
    assert all(f"{job['id']}  pending  {job['prompt']}" in err for job in matching), err


def test_logs_tail_prints_the_last_lines(server: Server) -> None:
    job = server.create(start=True, num_inference_steps=4, num_frames=5)
    server.wait_status(job["id"], "completed")
    whole = server.client.get(f"/api/jobs/{job['id']}/logs").json()["lines"]
    assert len(whole) > 3
    for n, expected in ((2, whole[-2:]), (0, []), (len(whole) + 5, whole)):
        code, out, _ = piped(server, "logs", job["id"][:8], "--tail", str(n))
        assert code == 0 and out.splitlines() == expected, n
    code, out, _ = piped(server, "logs", job["id"], "-f", "--tail", "1")
    assert code == 0 and out.splitlines() == whole[-1:]


def test_logs_follow_with_tail_starts_from_the_end(server: Server) -> None:
    job = server.create(start=True, **LONG)
    wait_for(lambda: len(server.client.get(f"/api/jobs/{job['id']}/logs").json()["lines"]) > 6, timeout=30)
    first = server.client.get(f"/api/jobs/{job['id']}/logs").json()["lines"][0]
    out = io.StringIO()
    args = build_parser().parse_args(["logs", job["id"], "-f", "--tail", "2", "--server", server.url])
    following = threading.Thread(target=run_client_command, args=(args, plain_console(file=out),
                                                                  plain_console(file=io.StringIO())))
    following.start()
    wait_for(lambda: out.getvalue().count("\n") >= 2, timeout=30)
    server.client.post(f"/api/jobs/{job['id']}/stop")
    following.join(30)
    assert not following.is_alive()
    lines = out.getvalue().splitlines()
    assert first not in lines and lines[-1] == server.client.get(f"/api/jobs/{job['id']}/logs").json()["lines"][-1]


def test_the_client_pages_through_a_long_log() -> None:
    log = [f"line {n}" for n in range(12_345)]

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/logs"):
            after, limit = int(request.url.params["after"]), int(request.url.params["limit"])
            lines = log[after:after + limit]
            return httpx.Response(200, json={"lines": lines, "total": len(log), "next_after": after + len(lines)})
        return httpx.Response(200, json={"id": JOB_ID, "status": "completed"})

    with Client("http://fastvideo-ui.test") as client:
        client.http = httpx.Client(base_url="http://fastvideo-ui.test", transport=httpx.MockTransport(answer))
        assert list(client.log_lines(JOB_ID)) == log == list(client.log_lines(JOB_ID, follow=True))
        assert list(client.log_lines(JOB_ID, tail=7_000)) == log[-7_000:]
        assert list(client.log_lines(JOB_ID, tail=0, follow=True)) == []
