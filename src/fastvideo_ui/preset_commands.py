"""`fastvideo-ui presets`: the server's presets (named saved settings). Alone
it lists them; `presets export` prints them as JSON, `presets import FILE`
adds them (`--replace`: one whose name exists replaces it), `presets rm
NAME...` deletes. `submit --preset NAME` starts from one (applied_preset).
Exit codes as the other commands' (commands.py): 2 when the server refuses, 3
when it cannot be reached."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from .cli_output import act_on_each, compact_age, print_json, print_table
from .client import ApiError, Client
from .spec.rules import shown


def add_preset_commands(command: Callable[..., argparse.ArgumentParser],
                        client_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """`command` makes a client command's parser (commands.py); `client_options`
    puts --server on a parser below it, so it may come last there too."""
    presets = command("presets", "saved settings: list them, `export`, `import FILE`, `rm NAME`", json=True)
    actions = presets.add_subparsers(dest="preset_action", metavar="{export,import,rm}")
    export = actions.add_parser("export", help="print every preset as JSON (for `presets import`)")
    load = actions.add_parser("import", help="add the presets of a file `presets export` wrote ('-': stdin); "
                                             "each is checked, and if one is refused none is added")
    load.add_argument("file", help="the JSON file")
    load.add_argument("--replace", action="store_true", help="a preset whose name exists replaces that one "
                                                             "(else it is skipped)")
    rm = actions.add_parser("rm", help="delete presets")
    rm.add_argument("names", nargs="+", metavar="name", help="a preset's name")
    for parser in (export, load, rm):
        client_options(parser)


def applied_preset(client: Client, name: str, model_id: str | None) -> tuple[str | None, dict[str, Any]]:
    """The named preset's model and values, as the server checks them now for
    `model_id` (else for the preset's own model): what `submit --preset` starts from."""
    applied = client.apply_preset(name, model_id)
    return model_id or applied["model_id"], applied["values"]


def run_presets(client: Client, args: argparse.Namespace, out: Console, err: Console) -> int:
    action = getattr(args, "preset_action", None)
    if action == "export":
        print_json(out, client.export_presets())
        return 0
    if action == "import":
        return _import(client, args, out)
    if action == "rm":
        return _rm(client, args, out, err)
    return _list(client, args, out)


def values_text(values: dict[str, Any]) -> str:
    """A preset's values on one line: `guidance_scale=7 seed=42`."""
    return " ".join(f"{name}={shown(value)}" for name, value in values.items())


def _list(client: Client, args: argparse.Namespace, out: Console) -> int:
    listed = client.presets()
    if args.json:
        print_json(out, listed)
        return 0
    if not listed:
        out.print("no presets yet; save one in the web UI's New job, or `fastvideo-ui presets import FILE`",
                  soft_wrap=True)
        return 0
    table = Table(box=None, pad_edge=False, expand=out.is_terminal)
    for name in ("name", "model", "changed"):
        table.add_column(name, no_wrap=True)
    table.add_column("values", no_wrap=True, overflow="ellipsis", ratio=1, min_width=10)
    now = time.time()
    for preset in listed:
        table.add_row(preset["name"], preset["model_id"] or "any", compact_age(now - preset["updated_at"]),
                      values_text(preset["values"]))
    print_table(out, table)
    return 0


def _import(client: Client, args: argparse.Namespace, out: Console) -> int:
    try:
        if args.file == "-":
            data = json.load(sys.stdin)
        else:
            with open(args.file, encoding="utf-8") as file:
                data = json.load(file)
    except OSError as exc:
        raise ApiError(422, f"cannot read {args.file}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ApiError(422, f"{args.file} is not JSON: {exc}") from None
    presets = data.get("presets") if isinstance(data, dict) else data  # an export, or its list alone
    try:
        done = client.import_presets(presets, args.replace)
    except ApiError as exc:
        if exc.status != 413:
            raise
        raise ApiError(413, f"{exc}; split the file's presets into several files and import each") from None
    if getattr(args, "json", False):
        print_json(out, done)
        return 0
    out.print(f"created {len(done['created'])}, replaced {len(done['replaced'])}, skipped {len(done['skipped'])}"
              + (f" (their names exist; --replace replaces them): {', '.join(done['skipped'])}"
                 if done["skipped"] else ""), soft_wrap=True)
    return 0


def _rm(client: Client, args: argparse.Namespace, out: Console, err: Console) -> int:
    """Each name in turn: an unknown one is reported, and the others still go."""

    def remove(name: str) -> None:
        client.delete_preset(name)
        out.print(f"{name} deleted", soft_wrap=True)

    return act_on_each(args.names, remove, err)
