"""`fastvideo-ui sweep`: the jobs of every combination of some fields' values
(POST /api/sweeps), from `submit`'s flags for what they share and `--axis
NAME=V1,V2` for each field that varies; with --wait, its progress, then a
table of its jobs by coords. Exit codes as `submit`'s (commands.py): 1 when a
job did not complete."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from .cli_flags import JobFlag, add_job_flags, finite_float
from .cli_output import print_json, print_table
from .client import ApiError, Client
from .spec.axes import ALIASES, axis
from .spec.field_spec import FieldSpec
from .spec.fields import FIELDS

_POSITIONAL = tuple(f for f in FIELDS if f.flag is not None and not f.flag.flag.startswith("-"))


def add_sweep_command(command: Callable[..., argparse.ArgumentParser]) -> None:
    """`command` makes a client command's parser (commands.py)."""
    sweep = command("sweep", "make the jobs of every combination of some fields' values, queued together",
                    json=True)
    flags = add_job_flags(sweep, tuple(f for f in FIELDS if f not in _POSITIONAL))
    # The prompt (a positional of `submit`) may be left out here: an --axis of it gives its values.
    for f in _POSITIONAL:
        cli = f.flag
        assert cli is not None
        sweep.add_argument(cli.flag, nargs="?", type=cli.parse or f.base_type, metavar=cli.metavar,
                           help=f"{cli.help or f.help} (or give its values with --axis {f.name}=...)")
    sweep.set_defaults(job_flags=(*flags, *(JobFlag(f.name, f.name, (f.name,)) for f in _POSITIONAL)))
    aliases = ", ".join(f"{alias} ({meaning})" for alias, meaning in ALIASES.items())
    sweep.add_argument("--axis", action="append", default=[], metavar="NAME=V1,V2",
                       help=f"a field to vary and its values, comma-separated (a prompt's whole text is one value: "
                            f"give --axis prompt=... again for another); again for another axis, the first "
                            f"outermost. NAME is a job field, loras.N.strength, or {aliases}")
    sweep.add_argument("--wait", action="store_true", help="show its progress, then its jobs by coords")
    sweep.add_argument("--preset", metavar="NAME", help="start the base from this saved preset, as submit does")


def axis_values(name: str, text: str) -> list[Any]:
    """An --axis's values, each typed as its field's flag types it; ArgumentTypeError names the rule."""
    at = axis(name)
    if at is None:
        return [text]  # the server says what an axis may be
    if at.field.text:  # free text, commas and all: one value
        return [_value(at.field, text)]
    return [_value(at.field, part.strip()) for part in text.split(",")]


def _value(f: FieldSpec, text: str) -> Any:
    cli = f.flag
    if cli is not None and cli.parse is not None and not cli.sets:
        value = cli.parse(text)
        return [value] if f.is_list else value  # a list field's flag gives one item: one value, a list of it
    kind = f.base_type
    if kind is bool:
        if text.lower() not in ("true", "false", "on", "off", "1", "0", "yes", "no"):
            raise argparse.ArgumentTypeError(f"must be true or false, not {text!r}")
        return text.lower() in ("true", "on", "1", "yes")
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if kind is float:
        return finite_float(text)
    return text


def parse_axes(given: list[str]) -> dict[str, list[Any]]:
    """`--axis NAME=VALUES` flags as the request's axes, in order; a name given again adds values."""
    axes: dict[str, list[Any]] = {}
    for item in given:
        name, equals, text = item.partition("=")
        name = name.strip()
        if not equals or not name:
            raise ApiError(422, f"--axis wants NAME=VALUES, such as guidance_scale=3,5,7, not {item!r}")
        try:
            axes.setdefault(name, []).extend(axis_values(name, text))
        except (argparse.ArgumentTypeError, ValueError) as exc:
            raise ApiError(422, f"--axis {name}: {exc}") from None
    if not axes:
        raise ApiError(422, "give at least one --axis NAME=V1,V2 (such as --axis seed=1,2,3)")
    return axes


def run_sweep(client: Client, args: argparse.Namespace, out: Console, err: Console, base: dict[str, Any],
              flags: Mapping[str, str]) -> int:
    """`base`: the create body the job flags make (commands.job_body); `flags`: the flag that sets
    each field, so a refusal names what was typed."""
    axes = parse_axes(args.axis)
    start = base.pop("start", True)
    if args.wait and not start:
        raise ApiError(422, "--wait waits for the jobs to run: leave out --no-start")
    try:
        sweep = client.create_sweep(base, axes, start)
    except ApiError as exc:
        if exc.status == 0:
            raise
        names = {**{f"base.{field}": flag for field, flag in flags.items()},
                 **{f"axes.{name}": f"--axis {name}" for name in axes}, "axes": "--axis"}
        raise ApiError(exc.status, exc.message(names)) from None
    count = len(sweep["jobs"])
    if not args.wait:
        if args.json:
            print_json(out, sweep)
        else:
            out.print(f"sweep {sweep['id']}: {count} job{'s' if count != 1 else ''}, {_how(start)}", soft_wrap=True)
        return 0
    shown = err if args.json else out  # --json: stdout is for the JSON
    shown.print(f"sweep {sweep['id']}: {count} job{'s' if count != 1 else ''}", soft_wrap=True)
    try:
        sweep = _wait(client, sweep, shown)
    except KeyboardInterrupt:
        err.print(f"interrupted; the server keeps sweep {sweep['id']} and its jobs", soft_wrap=True)
        return 130
    if args.json:
        print_json(out, sweep)
    else:
        print_table(out, _table(sweep))
    unfinished = [cell for cell in sweep["jobs"] if cell["status"] != "completed"]
    for cell in unfinished:
        why = (cell["job"] or {}).get("error") or ""
        err.print(f"job {cell['id']} {cell['status']}{': ' + why if why else ''}", soft_wrap=True)
    return 1 if unfinished else 0


def _how(start: bool) -> str:
    return "queued" if start else "pending (start them to run them)"


def _tally(sweep: dict[str, Any]) -> tuple[int, str]:
    """How many of its jobs have ended, and the others by status in words."""
    statuses = [cell["status"] for cell in sweep["jobs"]]
    ended = sum(status not in ("pending", "queued", "running") for status in statuses)
    rest = ", ".join(f"{statuses.count(status)} {status}" for status in ("running", "queued")
                     if status in statuses)
    return ended, rest


def _wait(client: Client, sweep: dict[str, Any], out: Console) -> dict[str, Any]:
    total = len(sweep["jobs"])
    if not out.is_terminal:  # a log or a pipe: a line each time another job ends
        last = [-1]

        def line(current: dict[str, Any]) -> None:
            ended, rest = _tally(current)
            if ended != last[0]:
                out.print(f"{ended}/{total} done{f' ({rest})' if rest else ''}")
                last[0] = ended

        return client.wait_sweep(sweep["id"], on_update=line)
    columns = (BarColumn(), MofNCompleteColumn(), TextColumn("done {task.fields[rest]}", markup=False))
    with Progress(*columns, console=out) as progress:
        task = progress.add_task("sweep", total=total, rest="")

        def show(current: dict[str, Any]) -> None:
            ended, rest = _tally(current)
            progress.update(task, completed=ended, rest=f"({rest})" if rest else "")

        return client.wait_sweep(sweep["id"], on_update=show)


def _table(sweep: dict[str, Any]) -> Table:
    """A row a job: its id, its value on each axis, its status."""
    table = Table(box=None, pad_edge=False)
    table.add_column("id", no_wrap=True)
    for name in sweep["axes"]:
        table.add_column(name, overflow="fold")
    table.add_column("status", no_wrap=True)
    for cell in sweep["jobs"]:
        values = [_cell_text(cell["coords"].get(name)) for name in sweep["axes"]]
        table.add_row(cell["id"][:8], *values, cell["status"])
    return table


def _cell_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
