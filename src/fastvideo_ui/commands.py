"""The client commands of `fastvideo-ui`: submit, jobs, logs, stop, rm,
download, models, gpus (and loras, presets and sweep, in lora_commands.py,
preset_commands.py and sweep_commands.py). Each talks to a server over HTTP (--server, before or
after the command, or FASTVIDEO_UI_SERVER; the token from
FASTVIDEO_UI_API_TOKEN), so they work against a remote server as well as a
local one.

Exit codes: 0 done; 1 the job failed or was stopped; 2 the server refused the
request (the message names the flag, such as --steps); 3 the server cannot be
reached; 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import shlex
import time
from collections.abc import Callable
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from .cli_flags import add_job_flags
from .cli_output import (act_on_each, compact_age, compact_run_time, plain_console, print_json, print_table,
                         video_file_name)
from .client import DEFAULT_SERVER, ApiError, Client, Job
from .lora_commands import add_lora_commands, run_loras
from .preset_commands import add_preset_commands, applied_preset, run_presets
from .spec.fields import FIELDS, UPLOADS
from .sweep_commands import add_sweep_command, run_sweep
from .spec.rules import summarize


def _count(text: str) -> int:
    if not text.isdecimal():
        raise argparse.ArgumentTypeError(f"must be a whole number, 0 or more, not {text!r}")
    return int(text)


def flag_names(args: argparse.Namespace) -> dict[str, str]:
    """The job fields the command's flags set, each by the flag that sets it:
    a refusal then names what the user typed (`--steps`), not the API's field."""
    return {field: flag.flag if len(flag.fields) == 1 else f"{flag.flag} ({field})"
            for flag in getattr(args, "job_flags", ()) for field in flag.fields}


def add_client_options(parser: argparse.ArgumentParser, default: Any = None) -> None:
    """The options every client command takes. They go on the top parser and on
    each command's, so they may come before or after the command; a command's
    parser has them default to SUPPRESS, so that one given before it stands."""
    parser.add_argument("--server", default=default,
                        help=f"the server's URL (env FASTVIDEO_UI_SERVER; default {DEFAULT_SERVER})")


def add_client_commands(commands: Any) -> None:
    def command(name: str, help_text: str, json: bool = False) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        add_client_options(sub, default=argparse.SUPPRESS)
        if json:
            sub.add_argument("--json", action="store_true", help="print the API's JSON, for scripts")
        return sub

    submit = command("submit", "create a job (and wait for it with --wait)", json=True)
    # One argument per job field with a flag, from the local spec (so --help works offline), then --no-start;
    # the records they return (args.job_flags) build the body and name the flags in a refusal.
    add_job_flags(submit, FIELDS)
    submit.add_argument("--wait", action="store_true", help="show its progress and wait for it to end")
    submit.add_argument("-o", "--output", help="download the video here when it is done (implies --wait)")
    submit.add_argument("--preset", metavar="NAME", help="start from this saved preset (`fastvideo-ui presets`), "
                        "checked for --model if given: the flags given replace its values")

    jobs = command("jobs", "list jobs, newest first", json=True)
    jobs.add_argument("--status", help="e.g. running or queued,running")
    jobs.add_argument("--search", help="only prompts containing this text")
    jobs.add_argument("--limit", type=int, default=20)
    jobs.add_argument("-q", "--quiet", action="store_true", help="print only the jobs' ids")

    logs = command("logs", "print a job's log")
    logs.add_argument("job", help="a job id, or a unique start of one")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing until the job ends")
    logs.add_argument("-n", "--tail", type=_count, metavar="N", help="only the last N lines (with -f: then follow)")

    for name, help_text in (("stop", "stop queued or running jobs"), ("rm", "delete jobs, their videos and logs")):
        command(name, help_text).add_argument("jobs", nargs="+", metavar="job",
                                              help="a job id, or a unique start of one")

    download = command("download", "save a job's video")
    download.add_argument("job", help="a job id, or a unique start of one")
    download.add_argument("-o", "--output", help="where (default: here, named from its id and prompt)")

    command("models", "what this server can run", json=True)
    command("gpus", "each GPU, its memory and use, and the job on it")
    add_lora_commands(command, lambda parser: add_client_options(parser, default=argparse.SUPPRESS))
    add_preset_commands(command, lambda parser: add_client_options(parser, default=argparse.SUPPRESS))
    add_sweep_command(command)


def run_client_command(args: argparse.Namespace, out: Console | None = None, err: Console | None = None) -> int:
    out = out or plain_console()
    err = err or plain_console(stderr=True)
    try:
        with Client(args.server) as client:
            return _COMMANDS[args.command](client, args, out, err)
    except ApiError as exc:
        err.print(Text.assemble(("error:", "red"), f" {exc.message(flag_names(args))}"))
        return 3 if exc.status == 0 else 2
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130


def _uploaded(client: Client, field: str, path: str) -> str:
    """The upload id of the file at `path`; a file that cannot be read or is
    refused is an error on the field's flag (exit 2)."""
    try:
        return str(client.upload(path)["id"])
    except OSError as exc:
        raise ApiError(422, [{"loc": ["body", field], "msg": f"cannot read {path}: {exc.strerror or exc}"}]) from None
    except ApiError as exc:
        if exc.status == 0:  # the server is out of reach: said as such
            raise
        raise ApiError(exc.status, [{"loc": ["body", field], "msg": f"{path}: {exc}"}]) from None


def job_body(client: Client, args: argparse.Namespace) -> dict[str, Any]:
    """A create body from the job flags given (`submit`'s, and `sweep`'s base): the model the
    first this server can run if none is named, a file named by a flag uploaded first."""
    body: dict[str, Any] = {}
    for flag in args.job_flags:
        value = getattr(args, flag.dest)
        if value is not None:
            body.update(value if isinstance(value, dict) else {flag.fields[0]: value})
    model_id = args.model_id
    if getattr(args, "preset", None):  # the preset's values fill in what no flag gave
        model_id, values = applied_preset(client, args.preset, model_id)
        body = values | body
    body["model_id"] = model_id or _first_available(client)
    for f in UPLOADS:  # a file named on the command line goes up first: the job names its upload
        if body.get(f.name) is not None:
            body[f.name] = _uploaded(client, f.name, body[f.name])
    return body


def _sweep(client: Client, args: argparse.Namespace, out: Console, err: Console) -> int:
    return run_sweep(client, args, out, err, job_body(client, args), flag_names(args))


def _submit(client: Client, args: argparse.Namespace, out: Console, err: Console) -> int:
    job = client.create(**job_body(client, args))
    if not (args.wait or args.output):
        if args.json:
            print_json(out, job)
        else:
            out.print(job["id"])
        return 0
    try:
        job = _wait_with_progress(client, job, err if args.json else out)  # --json: stdout is for the JSON
    except KeyboardInterrupt:
        stop = again(args, "stop", job["id"][:8])
        err.print(f"interrupted; the server keeps job {job['id']} (`{stop}` stops it)", soft_wrap=True)
        return 130
    completed = job["status"] == "completed"
    if not completed:
        err.print(f"job {job['id']} {job['status']}: {job['error'] or ''}")
    elif args.output:
        saved = client.download(job["id"], args.output)
        if not args.json:
            out.print(str(saved), soft_wrap=True)
    elif not args.json:
        # Not the server's own path, which means nothing on another machine: where to fetch it from.
        out.print(f"video: {client.url(job['video_url'])}", soft_wrap=True)
        fetch = again(args, "download", job["id"][:8], "-o", video_file_name(job["id"], job["prompt"]))
        out.print(f"save it: {fetch}", soft_wrap=True)
    if args.json:
        print_json(out, job)
    return 0 if completed else 1


def again(args: argparse.Namespace, *words: str) -> str:
    """A command to run next, with this one's --server if it was given."""
    server = ("--server", args.server) if args.server else ()
    return shlex.join(("fastvideo-ui", *server, *words))


def _first_available(client: Client) -> str:
    for model in client.models():
        if model["available"]:
            return str(model["id"])
    raise ApiError(422, "this server can run none of its models: see `fastvideo-ui models`")


def _wait_with_progress(client: Client, job: Job, out: Console) -> Job:
    if not out.is_terminal:
        return _wait_with_lines(client, job, out)
    out.print(f"job {job['id']}", soft_wrap=True)  # the bar does not show it: Ctrl-C, `stop` and `logs` want it
    columns = (TextColumn("{task.fields[phase]:>12}", markup=False), BarColumn(),
               TextColumn("{task.fields[steps]}", markup=False), TimeRemainingColumn())
    with Progress(*columns, console=out) as progress:
        task = progress.add_task("job", total=100, phase=job["status"], steps="")

        def show(current: Job) -> None:
            steps = f"{current['step']}/{current['total_steps']} steps" if current.get("total_steps") else ""
            if current["status"] == "queued" and current.get("queue_position"):
                steps = f"#{current['queue_position']} in queue"
            progress.update(task, completed=current.get("progress") or 0, steps=steps,
                            phase=current.get("phase") or current["status"])

        return client.wait(job["id"], on_update=show)


def _wait_with_lines(client: Client, job: Job, out: Console) -> Job:
    """Progress as plain lines, for a log or a pipe: each change of phase, and
    each tenth of the steps."""
    last: list[Any] = [None, -1]

    def show(current: Job) -> None:
        phase = current.get("phase") or current["status"]
        tenth = int((current.get("progress") or 0) // 10)
        if phase != last[0] or (phase == "denoising" and tenth > last[1]):
            steps = f" {current['step']}/{current['total_steps']} steps" if current.get("total_steps") else ""
            eta = f", about {current['eta_seconds']:.0f} s left" if current.get("eta_seconds") else ""
            out.print(f"{current['id'][:8]} {phase}{steps}{eta}")
            last[0], last[1] = phase, tenth

    return client.wait(job["id"], on_update=show)


def _jobs(client: Client, args: argparse.Namespace, out: Console, err: Console) -> int:
    listed = client.jobs(status=args.status, q=args.search, limit=args.limit)
    if args.json:
        print_json(out, listed)
        return 0
    if args.quiet:
        for job in listed:
            out.out(job["id"], highlight=False)
        return 0
    # One row a job: in a terminal the prompt, last, takes the width the others leave and is cut to it.
    table = Table(box=None, pad_edge=False, expand=out.is_terminal)
    for name in ("id", "status", "age", "run", "steps", "model"):
        table.add_column(name, no_wrap=True)
    table.add_column("progress", max_width=40, no_wrap=True, overflow="ellipsis")
    table.add_column("prompt", no_wrap=True, overflow="ellipsis", ratio=1, min_width=10)
    now = time.time()
    for job in listed:
        progress = f"{job['progress']:.0f}%" if job["status"] == "running" else (job["error"] or "")
        ran = compact_run_time((job["finished_at"] or now) - job["started_at"]) if job["started_at"] else "-"
        steps = f"{job['step'] or 0}/{job['total_steps'] or job['num_inference_steps']}"
        table.add_row(job["id"][:8], job["status"], compact_age(now - job["created_at"]), ran, steps,
                      job["model_id"].split("/")[-1], progress, job["prompt"])
    print_table(out, table)
    return 0


def _logs(client: Client, args: argparse.Namespace, out: Console, err: Console) -> int:
    for line in client.log_lines(args.job, tail=args.tail, follow=args.follow):
        out.out(line, highlight=False)
    return 0


def _stop(client: Client, args: argparse.Namespace, out: Console, err: Console) -> int:
    return _each_job(client, args, err, lambda job_id: out.print(f"{job_id} {client.stop(job_id)['status']}"))


def _rm(client: Client, args: argparse.Namespace, out: Console, err: Console) -> int:
    def remove(job_id: str) -> None:
        client.delete(job_id)
        out.print(f"{job_id} deleted")

    return _each_job(client, args, err, remove)


def _each_job(client: Client, args: argparse.Namespace, err: Console, act: Callable[[str], None]) -> int:
    """`act` on each job named. Every id is resolved first, so that a mistyped
    one acts on none; a job the server refuses to act on is reported, and the
    others still acted on."""
    return act_on_each([client.resolve(job) for job in args.jobs], act, err)


def _download(client: Client, args: argparse.Namespace, out: Console, err: Console) -> int:
    job = client.job(args.job)
    out.print(str(client.download(job["id"], args.output or video_file_name(job["id"], job["prompt"]))),
              soft_wrap=True)
    return 0


# Columns a `models` table row takes beside its id and defaults: the available
# column ("available", "no (1)") and the gaps between the three.
MODELS_TABLE_ROOM = len("available") + 4


def _models(client: Client, args: argparse.Namespace, out: Console, err: Console) -> int:
    """Ids and the reasons a model cannot run (install advice among them) are
    never cut or wrapped by us, so they can be copied: a reason is printed once,
    below, with a number that its models point to."""
    models = client.models()
    if args.json:
        print_json(out, models)
        return 0
    rows: list[tuple[str, str, str]] = []
    reasons: dict[str, int] = {}
    for model in models:
        defaults = summarize(model["defaults"])  # as a job's card reads (num_gpus 1: no devices named)
        available = "yes" if model["available"] else f"no ({reasons.setdefault(model['reason'], len(reasons) + 1)})"
        rows.append((model["id"], available, defaults))
    # A table while each model fits on one row; narrower, a block each, so a table never cuts an id
    # or wraps a card-like line of defaults.
    longest = max((cell_len(model_id) for model_id, _, _ in rows), default=0)
    widest = max((cell_len(defaults) for _, _, defaults in rows), default=0)
    if out.width < longest + MODELS_TABLE_ROOM + widest:
        for model_id, available, defaults in rows:
            out.print(model_id, soft_wrap=True)
            out.print(f"  available: {available}")
            out.print(f"  {defaults}")
    else:
        table = Table(box=None, pad_edge=False)
        table.add_column("id", no_wrap=True)
        table.add_column("available", no_wrap=True)
        table.add_column("defaults")
        for row in rows:
            table.add_row(*row)
        print_table(out, table)
    for reason, number in reasons.items():
        out.print(f"({number}) {reason}", soft_wrap=True)
    return 0


def _gpus(client: Client, _args: argparse.Namespace, out: Console, err: Console) -> int:
    answer = client.gpus()
    if not answer["gpus"]:
        out.print(f"no GPUs: {answer['reason']}")
        return 0
    table = Table("gpu", "name", "memory", "use", "job", box=None, pad_edge=False)
    for gpu in answer["gpus"]:
        memory = (f"{gpu['memory_used_bytes'] / 2**30:.1f} / {gpu['memory_total_bytes'] / 2**30:.1f} GiB"
                  if gpu["memory_total_bytes"] else "")
        use = f"{gpu['utilization_percent']}%" if gpu["utilization_percent"] is not None else ""
        table.add_row(str(gpu["id"]), gpu["name"] or "", memory, use, (gpu["job_id"] or "")[:8])
    print_table(out, table)
    return 0


_COMMANDS = {"submit": _submit, "jobs": _jobs, "logs": _logs, "stop": _stop, "rm": _rm, "download": _download,
             "models": _models, "gpus": _gpus, "loras": run_loras, "presets": run_presets,
             "sweep": _sweep}
