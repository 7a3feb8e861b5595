"""`submit`'s job flags derived from the spec (cli_flags.py) against today's
hand-written `job_flag` calls (commands.py): the same option strings, dests,
types, defaults and actions, the same JobFlag records, the same parsed body."""

from __future__ import annotations

import argparse
from dataclasses import astuple
from typing import Any

import pytest

from fastvideo_ui.cli_flags import add_job_flags
from fastvideo_ui.commands import add_client_commands, flag_names
from fastvideo_ui.spec.fields import FIELDS


def todays_submit() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_client_commands(parser.add_subparsers(dest="command"))
    submit: argparse.ArgumentParser = parser._subparsers._group_actions[0].choices["submit"]  # type: ignore[union-attr]
    return submit


def derived_submit() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_job_flags(parser, FIELDS)
    return parser


def _actions(parser: argparse.ArgumentParser, dests: set[str]) -> dict[str, argparse.Action]:
    return {action.dest: action for action in parser._actions if action.dest in dests}


def test_the_same_flags_with_the_same_dests_types_defaults_and_actions() -> None:
    today, derived = todays_submit(), derived_submit()
    dests = {flag.dest for flag in today.get_default("job_flags")}
    old, new = _actions(today, dests), _actions(derived, dests)
    assert set(new) == set(old) == dests
    assert {action.dest for action in derived._actions if action.dest != "help"} == dests
    for dest, was in old.items():
        now = new[dest]
        same = ("option_strings", "dest", "default", "nargs", "const", "required", "metavar", "choices")
        assert {key: getattr(now, key) for key in same} == {key: getattr(was, key) for key in same}, dest
        assert type(now) is type(was), dest
        if was.help:  # help may gain text where there was none, never lose it
            assert now.help == was.help, dest
        assert (now.type is None) == (was.type is None), dest
        if was.type in (int, float):
            assert now.type is was.type, dest


@pytest.mark.parametrize("text", ["832x480", "64X64", "83x", "x", "a fox", "7x9x3"])
def test_parse_functions_behave_alike(text: str) -> None:
    old, new = _actions(todays_submit(), {"size", "prompt", "negative_prompt"}), \
        _actions(derived_submit(), {"size", "prompt", "negative_prompt"})
    for dest in old:
        assert _outcome(new[dest].type, text) == _outcome(old[dest].type, text), dest
    assert _outcome(old["prompt"].type, "a fox\n  in snow\r\n") == _outcome(new["prompt"].type, "a fox\n  in snow\r\n")


def _outcome(parse: Any, text: str) -> Any:
    try:
        return parse(text)
    except argparse.ArgumentTypeError as exc:
        return ("refused", str(exc))


def test_the_same_job_flag_records_and_refusal_names() -> None:
    today, derived = todays_submit().get_default("job_flags"), derived_submit().get_default("job_flags")
    assert {astuple(flag) for flag in derived} == {astuple(flag) for flag in today}  # two JobFlag classes till wired
    args = argparse.Namespace(job_flags=derived)
    assert flag_names(args) == flag_names(argparse.Namespace(job_flags=today))
    assert flag_names(args)["num_inference_steps"] == "--steps" and flag_names(args)["width"] == "--size (width)"


@pytest.mark.parametrize("argv", [
    ["a fox"],
    ["a fox", "--model", "m", "--steps", "3", "--frames", "9", "--size", "64x72", "--seed", "0", "--gpus", "2",
     "--guidance", "4.5", "--fps", "8", "--negative", "blur\nnoise", "--priority", "-5", "--retry-on-oom",
     "--webhook", "https://example.com/hook", "--no-start"],
])
def test_the_same_argv_parses_to_the_same_values(argv: list[str]) -> None:
    today, derived = todays_submit(), derived_submit()
    dests = {flag.dest for flag in today.get_default("job_flags")}
    old, _ = today.parse_known_args(argv)
    new = derived.parse_args(argv)
    assert {dest: getattr(new, dest) for dest in dests} == {dest: getattr(old, dest) for dest in dests}
