"""`submit`'s job flags, derived from the local job spec (so --help works offline):
one argparse argument per field with a `cli`, a flag that sets several fields
(--size) once, then `--no-start`."""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .spec.fields import FieldSpec


@dataclass(frozen=True)
class JobFlag:
    """A submit argument, as typed (`--steps`), and the job fields it sets."""

    dest: str
    flag: str
    fields: tuple[str, ...]


def finite_float(text: str) -> float:
    """A float flag's value; NaN and the infinities mean nothing to a job (and are not JSON)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text!r}")
    return value


def _options(f: FieldSpec) -> dict[str, Any]:
    cli = f.flag
    assert cli is not None
    options: dict[str, Any] = {"help": cli.help or f.help}
    if f.base_type is bool and cli.parse is None:
        # An option to turn on what is off by default, or off what is on; unset (None): the server's default.
        on = not f.fixed_default
        return {**options, "action": "store_true" if on else "store_false", "default": None}
    kind = cli.parse or (None if f.base_type is str else f.base_type)
    if kind is float and f.finite:
        kind = finite_float
    if kind is not None:
        options["type"] = kind
    if cli.metavar:
        options["metavar"] = cli.metavar
    if f.choices is not None and cli.parse is None:
        options["choices"] = f.choices
    if cli.repeat:  # once per item; unset (None): the server's default
        options["action"] = "append"
    return options


def add_job_flags(parser: argparse.ArgumentParser, fields: Sequence[FieldSpec]) -> tuple[JobFlag, ...]:
    """The job flags on `parser`; also set as its `job_flags` default. A flag's
    dest is its field's name, or the flag's own for one that sets several
    (its value then a dict of them)."""
    flags: list[JobFlag] = []
    done: set[str] = set()
    for f in fields:
        cli = f.flag
        if cli is None or cli.flag in done:
            continue
        done.add(cli.flag)
        options = _options(f)
        if not cli.flag.startswith("-"):  # positional
            action = parser.add_argument(cli.flag, **options)
        else:
            names = (cli.short, cli.flag) if cli.short else (cli.flag,)
            if not cli.sets:
                options["dest"] = f.name
            action = parser.add_argument(*names, **options)
        flags.append(JobFlag(action.dest, max(action.option_strings, key=len, default=action.dest),
                             cli.sets or (f.name,)))
    # `start` is not a job field but an instruction to the create call (as in the request model).
    action = parser.add_argument("--no-start", dest="start", action="store_false", help="create it pending, not queued")
    flags.append(JobFlag(action.dest, "--no-start", ("start",)))
    parser.set_defaults(job_flags=tuple(flags))
    return tuple(flags)
