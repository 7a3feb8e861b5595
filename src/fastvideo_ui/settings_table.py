"""How a server setting is declared once and what is made from the declaration:
its command-line flag, its environment variable, its help line, its value in
the Settings object and its bound check. The settings themselves are declared
in config.py, each as one `option(...)` on its Settings field."""

from __future__ import annotations

import argparse
import dataclasses
import os
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_PREFIX = "FASTVIDEO_UI_"
TRUE_WORDS = ("1", "true", "yes")  # what turns a yes/no setting on from the environment
_KEY = "setting"  # the field metadata key that holds a Setting


@dataclass(frozen=True)
class Setting:
    flag: str | None  # "--port"; None: from the environment only, read by hand (a secret)
    help: str  # what it does; "(default X; env Y)" is added from the rest
    env: str  # the full variable name
    minimum: float | None = None  # refused below this
    above: float | None = None  # refused at or below this
    unit: str = ""  # the bound in words: "more than 0 seconds", "1 byte a second or more"
    why: str | None = None  # said after a refusal
    size: bool = False  # a number of bytes: its default and minimum are also shown in KiB/MiB
    metavar: str | None = None
    repeat: bool = False  # the flag may be given again; the environment variable is comma-separated
    secret: bool = False  # no default in the help, and read by hand (config.py), never from the flag's default
    default_text: str | None = None  # what the default means, where its value alone does not say


def option(flag: str | None, default: Any, help: str, *, env: str | None = None,
           factory: Callable[[], Any] | None = None, repr: bool = True, **rules: Any) -> Any:
    """A Settings field (a dataclasses.field) that carries its Setting. The
    environment variable is FASTVIDEO_UI_ and the flag's name, unless `env`
    names another (the repeatable flags' plurals)."""
    name = env or (flag or "").lstrip("-").replace("-", "_").upper()
    assert name, "a setting without a flag names its environment variable"
    setting = Setting(flag, help, ENV_PREFIX + name, **rules)
    assert flag or setting.secret, "a setting without a flag is a secret, read by hand"
    metadata = {_KEY: setting}
    show = repr and not setting.secret  # settings get logged and printed in tracebacks; secrets must not be
    if factory is not None:
        return dataclasses.field(default_factory=factory, repr=show, metadata=metadata)
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), repr=show, metadata=metadata)
    return dataclasses.field(default=default, repr=show, metadata=metadata)


@dataclass(frozen=True)
class Entry:
    """One declared setting, as read off its Settings field."""
    name: str  # the Settings field, and the flag's argparse dest
    kind: type  # int, float, bool, str, Path or list (of str), None stripped
    setting: Setting
    field: dataclasses.Field[Any]

    @property
    def default(self) -> Any:
        if self.field.default_factory is not dataclasses.MISSING:
            return self.field.default_factory()
        return self.field.default


def entries(cls: type) -> list[Entry]:
    hints = typing.get_type_hints(cls)
    found = []
    for each in dataclasses.fields(cls):
        if _KEY in each.metadata:
            found.append(Entry(each.name, _kind(hints[each.name]), each.metadata[_KEY], each))
    return found


def _kind(hint: Any) -> type:
    args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    origin = typing.get_origin(hint)
    if origin is list:
        return list
    if args and origin is not None:  # X | None
        return _kind(args[0])
    assert hint in (int, float, bool, str, Path), f"no flag type for {hint}"
    return typing.cast(type, hint)


def number_text(number: float) -> str:
    """10, not 10.0, and 16777216, not 1.67772e+07."""
    return str(int(number)) if float(number).is_integer() else str(number)


def in_units(size: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return str(size)


def _shown(entry: Entry) -> str:
    default = entry.default
    if entry.setting.default_text is not None:
        return entry.setting.default_text
    if entry.kind is bool:
        return "on" if default else "off"
    if default is None or default == []:
        return "none"
    if entry.setting.size:
        return in_units(default)
    return number_text(default) if isinstance(default, (int, float)) else str(default)


def help_text(entry: Entry) -> str:
    setting = entry.setting
    notes = ["repeatable"] if setting.repeat else []
    if not setting.secret:
        notes.append(f"default {_shown(entry)}")
    env = f"env {setting.env}"
    notes.append(env + ", comma-separated" if setting.repeat else env + "=1" if entry.kind is bool else env)
    return f"{setting.help} ({'; '.join(notes)})".replace("%", "%%")  # argparse formats help with %


def _number(kind: type[int] | type[float], env: str) -> Callable[[str], int | float]:
    """argparse's type for a number flag whose default may come from the environment:
    a bad value is a usage error that names both places, not a traceback."""
    def convert(text: str) -> int | float:
        try:
            return kind(text)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {what} (set by the flag or by {env})") from None
    return convert


def _path(text: str) -> Path | None:
    return Path(text) if text else None  # an empty variable, exported but unset, means the default


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """A flag for every setting that has one. A plain setting's environment
    variable is its flag's default, so argparse converts and refuses it as it
    does the flag; a repeatable one's list and a secret are read after parsing."""
    for entry in entries(cls):
        setting = entry.setting
        if setting.flag is None:
            continue
        options: dict[str, Any] = {"dest": entry.name, "help": help_text(entry)}
        if entry.kind is bool:
            options.update(action="store_true", default=os.environ.get(setting.env) in TRUE_WORDS)
        else:
            options["metavar"] = setting.metavar or setting.flag.lstrip("-").replace("-", "_").upper()
            if setting.repeat:
                options.update(action="append", default=None)
            else:
                options["default"] = None if setting.secret else os.environ.get(setting.env)
                if entry.kind in (int, float):
                    options["type"] = _number(entry.kind, setting.env)
                elif entry.kind is Path:
                    options["type"] = _path
        parser.add_argument(setting.flag, **options)


def given(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The settings the flags and the environment gave, by field name; one
    given by neither is left out, so the Settings field's default applies."""
    values = {}
    for entry in entries(cls):
        if entry.setting.flag is None:
            continue
        value = getattr(args, entry.name)
        if value is None and entry.setting.repeat:
            value = [item.strip() for item in os.environ.get(entry.setting.env, "").split(",") if item.strip()]
        if value is not None:
            values[entry.name] = value
    return values


def refusal(entry: Entry) -> str:
    setting = entry.setting
    unit = f" {setting.unit}" if setting.unit else ""
    if setting.above is not None:
        bound = f"more than {number_text(setting.above)}{unit}"
    elif setting.size and setting.minimum is not None:
        bound = f"at least {number_text(setting.minimum)} ({in_units(int(setting.minimum))})"
    else:
        bound = f"{number_text(setting.minimum or 0)}{unit} or more"
    why = f": {setting.why}" if setting.why else ""
    return f"{setting.flag or setting.env} must be {bound}{why}"


def out_of_bounds(entry: Entry, value: Any) -> bool:
    """Written `not value >= minimum`, not `value < minimum`, so that NaN is out of every bound."""
    setting = entry.setting
    if setting.minimum is not None and not value >= setting.minimum:
        return True
    return setting.above is not None and not value > setting.above


def check_bounds(settings: object) -> None:
    for entry in entries(type(settings)):
        if out_of_bounds(entry, getattr(settings, entry.name)):
            raise SystemExit(refusal(entry))
