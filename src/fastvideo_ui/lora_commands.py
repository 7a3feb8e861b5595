"""`fastvideo-ui loras`: the server's LoRA library. Alone it lists the
library; `loras add FILE [--name NAME]` uploads a .safetensors file (streamed
from disk); `loras rm NAME...` deletes. Exit codes as the other commands'
(commands.py): 2 when the server refuses, 3 when it cannot be reached."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from .cli_output import act_on_each, compact_age, print_json, print_table
from .client import ApiError, Client

SHA_SHOWN = 12  # the hash's first characters in the table: enough to tell files apart


def add_lora_commands(command: Callable[..., argparse.ArgumentParser],
                      client_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """`command` makes a client command's parser (commands.py); `client_options`
    puts --server on a parser below it, so it may come last there too."""
    loras = command("loras", "the server's LoRA library: list it, `add FILE`, `rm NAME`", json=True)
    actions = loras.add_subparsers(dest="lora_action", metavar="{add,rm}")
    add = actions.add_parser("add", help="upload a .safetensors file into the library (streamed)")
    add.add_argument("file", help="the .safetensors file")
    add.add_argument("--name", help="its name in the library (default: the file's name)")
    add.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print the API's JSON")
    rm = actions.add_parser("rm", help="delete LoRAs from the library (refused while a pending, queued or running job "
                                       "uses one)")
    rm.add_argument("names", nargs="+", metavar="name", help="a LoRA's name in the library")
    for parser in (add, rm):
        client_options(parser)


def size_text(size: int) -> str:
    """1.5 GiB, 144.0 MiB, 812 B."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def _entry_line(entry: dict[str, Any]) -> str:
    base = f", base model {entry['base_model']}" if entry.get("base_model") else ""
    return f"{entry['name']} ({size_text(entry['bytes'])}, sha256 {entry['sha256']}{base})"


def run_loras(client: Client, args: argparse.Namespace, out: Console, err: Console) -> int:
    action = getattr(args, "lora_action", None)
    if action == "add":
        return _add(client, args, out)
    if action == "rm":
        return _rm(client, args, out, err)
    return _list(client, args, out)


def _list(client: Client, args: argparse.Namespace, out: Console) -> int:
    listed = client.loras()
    if args.json:
        print_json(out, listed)
        return 0
    if not listed:
        out.print("the LoRA library is empty; add a file with `fastvideo-ui loras add FILE`", soft_wrap=True)
        return 0
    table = Table("name", "size", "base model", "sha256", "added", box=None, pad_edge=False)
    now = time.time()
    for entry in listed:
        added = datetime.fromisoformat(entry["created_at"].replace("Z", "+00:00")).timestamp()
        table.add_row(entry["name"], size_text(entry["bytes"]), entry["base_model"] or "",
                      entry["sha256"][:SHA_SHOWN], compact_age(now - added))
    print_table(out, table)
    return 0


def _add(client: Client, args: argparse.Namespace, out: Console) -> int:
    try:
        entry, created = client.add_lora(args.file, args.name)
    except OSError as exc:
        raise ApiError(422, f"cannot read {args.file}: {exc.strerror or exc}") from None
    except ApiError as exc:
        if exc.status == 0:
            raise
        raise ApiError(exc.status, exc.message({"name": "--name", "file": args.file})) from None
    if getattr(args, "json", False):
        print_json(out, entry)
    else:
        out.print(f"{'added' if created else 'already in the library:'} {_entry_line(entry)}", soft_wrap=True)
    return 0


def _rm(client: Client, args: argparse.Namespace, out: Console, err: Console) -> int:
    """Each name in turn: one refused (in use, unknown) is reported, and the others still go."""

    def remove(name: str) -> None:
        client.remove_lora(name)
        out.print(f"{name} deleted", soft_wrap=True)

    return act_on_each(args.names, remove, err)
