"""How the client commands print (to a terminal as Rich lays it out, into a
pipe or a file one record a line, for grep, cut and scripts), and what they
name the videos they save."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .client import ApiError

# A pipe's width. Rich takes a pipe to be 80 columns (or $COLUMNS) and wraps
# to it: a prompt split over two rows of `jobs`, an error broken mid-sentence,
# "50 steps" broken in `models`. Wider than any line the commands print.
PIPE_WIDTH = 1_000_000


def plain_console(**options: Any) -> Console:
    """A console that prints text as it is. What the commands print comes from
    the server (prompts, errors, a model's install advice such as
    `pip install 'fastvideo-ui[fastvideo]'`), where Rich would read [brackets]
    as markup and drop them; table cells follow this setting too. Not on a
    terminal, and with no width asked for, it never wraps."""
    console = Console(markup=False, highlight=False, **options)
    if not console.is_terminal and "width" not in options:
        console.width = PIPE_WIDTH
        console.soft_wrap = True
    return console


def print_table(out: Console, table: Table) -> None:
    """A table; in a pipe without the spaces Rich pads its last column with."""
    if out.is_terminal:
        out.print(table)
        return
    with out.capture() as captured:
        out.print(table)
    for line in captured.get().splitlines():
        out.out(line.rstrip(), highlight=False)


def print_json(out: Console, value: Any) -> None:
    """The API's JSON, as `--json` prints it: for scripts (jq), never wrapped."""
    out.out(json.dumps(value, indent=2), highlight=False)


def compact_age(seconds: float) -> str:
    """How long ago, in its largest unit: 59s, 5m, 3h, 2d."""
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def compact_run_time(seconds: float) -> str:
    """How long, in its two largest units: 12s, 1m05s, 1h02m, 2d03h."""
    seconds = max(0, int(seconds))
    for (unit, size), (small, small_size) in ((("d", 86400), ("h", 3600)), (("h", 3600), ("m", 60)),
                                              (("m", 60), ("s", 1))):
        if seconds >= size:
            return f"{seconds // size}{unit}{seconds % size // small_size:02d}{small}"
    return f"{seconds}s"


# A saved video's name: the job's short id, then its prompt's first words.
SLUG_CHARS = 40
_WORD = re.compile(r"[^\W_]+")  # letters and digits of any script: no separator, dot or control character


def video_file_name(job_id: str, prompt: str) -> str:
    """`71a8364d-a-red-fox-in-the-snow.mp4`: safe as a file name anywhere (no
    path separator, no dot before the extension, at most 60 characters and
    well under 255 bytes), and still telling videos apart."""
    slug = ""
    for word in _WORD.findall(unicodedata.normalize("NFKC", prompt).casefold()):
        if len(slug) + 1 + len(word) > SLUG_CHARS:
            slug = slug or word[:SLUG_CHARS]
            break
        slug = f"{slug}-{word}" if slug else word
    return f"{job_id[:8]}-{slug}.mp4" if slug else f"{job_id[:8]}.mp4"


def act_on_each(names: Iterable[str], act: Callable[[str], None], err: Console) -> int:
    """`act` on each name in turn (a repeat once): one the server refuses is reported and the others
    still acted on; exit code 2 if any was refused. A server that cannot be reached stops it all."""
    refused = 0
    for name in dict.fromkeys(names):
        try:
            act(name)
        except ApiError as exc:
            if exc.status == 0:
                raise
            err.print(Text.assemble(("error:", "red"), f" {name}: {exc}"))
            refused += 1
    return 2 if refused else 0
