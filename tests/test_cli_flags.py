"""`submit`'s job flags, derived from the spec (cli_flags.py, wired in by
commands.py), against the hand-written `job_flag` calls they replaced, kept
here as the golden: the same option strings, dests, types, defaults and
actions, the same JobFlag records, the same parsed body."""

from __future__ import annotations

import argparse
from dataclasses import astuple
from typing import Any

import pytest

from fastvideo_ui.cli_flags import add_job_flags, finite_float
from fastvideo_ui.commands import add_client_commands, flag_names
from fastvideo_ui.prompts import one_line
from fastvideo_ui.spec.fields import BY_NAME, FIELDS


def _golden_size(text: str) -> dict[str, int]:
    """commands._size as it was before the spec (spec/checks.parse_size replaced it)."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be WIDTHxHEIGHT, such as 832x480, not {text!r}") from None
    return {"width": width, "height": height}


def golden_submit() -> argparse.ArgumentParser:
    """The job flags exactly as commands.py wrote them by hand before the spec (the golden)."""
    submit = argparse.ArgumentParser()
    flags: list[tuple[str, str, tuple[str, ...]]] = []

    def job_flag(*names: str, fields: tuple[str, ...] = (), **options: Any) -> None:
        action = submit.add_argument(*names, **options)
        flags.append((action.dest, max(action.option_strings, key=len, default=action.dest),
                      fields or (action.dest,)))

    job_flag("prompt", type=one_line)
    job_flag("--model", dest="model_id", metavar="MODEL", help="a model id (default: the first this server can run)")
    job_flag("--steps", type=int, dest="num_inference_steps")
    job_flag("--frames", type=int, dest="num_frames")
    job_flag("--size", type=_golden_size, fields=("width", "height"), help="WIDTHxHEIGHT, e.g. 832x480")
    job_flag("--seed", type=int)
    job_flag("--gpus", type=int, dest="num_gpus")
    job_flag("--guidance", type=float, dest="guidance_scale")
    job_flag("--fps", type=int)
    job_flag("--negative", type=one_line, dest="negative_prompt")
    job_flag("--priority", type=int)
    job_flag("--retry-on-oom", action="store_true", default=None)
    job_flag("--webhook", dest="webhook_url", metavar="URL",
             help="post its started/completed/failed/stopped events here")
    job_flag("--no-start", dest="start", action="store_false", help="create it pending, not queued")
    submit.set_defaults(job_flags=tuple(flags))
    return submit


def cli_submit() -> argparse.ArgumentParser:
    """`fastvideo-ui submit` as the CLI builds it."""
    parser = argparse.ArgumentParser()
    add_client_commands(parser.add_subparsers(dest="command"))
    submit: argparse.ArgumentParser = parser._subparsers._group_actions[0].choices["submit"]  # type: ignore[union-attr]
    return submit


def derived_submit() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_job_flags(parser, FIELDS)
    return parser


# Flags added since the golden: of the fields added since (each stored in the params JSON), derived, never
# written by hand; and --image, which uploads a file for the input image (a new user found none).
NEW_FLAGS = {f.name for f in FIELDS if f.storage == "json" and f.flag is not None} | {"image"}


def _actions(parser: argparse.ArgumentParser, dests: set[str]) -> dict[str, argparse.Action]:
    return {action.dest: action for action in parser._actions if action.dest in dests}


@pytest.mark.parametrize("built", [cli_submit, derived_submit])
def test_the_same_flags_with_the_same_dests_types_defaults_and_actions(built: Any) -> None:
    today, derived = golden_submit(), built()
    dests = {dest for dest, _, _ in today.get_default("job_flags")}
    old, new = _actions(today, dests), _actions(derived, dests)
    assert set(new) == set(old) == dests
    job_dests = {flag.dest for flag in derived.get_default("job_flags")}
    assert job_dests == dests | NEW_FLAGS
    if built is derived_submit:
        assert {action.dest for action in derived._actions if action.dest != "help"} == dests | NEW_FLAGS
    for dest, was in old.items():
        now = new[dest]
        same = ("option_strings", "dest", "default", "nargs", "const", "required", "metavar", "choices")
        assert {key: getattr(now, key) for key in same} == {key: getattr(was, key) for key in same}, dest
        assert type(now) is type(was), dest
        if was.help:  # help may gain text where there was none, never lose it
            assert now.help == was.help, dest
        assert (now.type is None) == (was.type is None), dest
        if was.type is int:
            assert now.type is was.type, dest
        if was.type is float:  # now refusing NaN and the infinities, which crashed the client (not JSON)
            assert now.type is (finite_float if BY_NAME[dest].finite else float), dest


@pytest.mark.parametrize("text", ["832x480", "64X64", "83x", "x", "a fox", "7x9x3"])
def test_parse_functions_behave_alike(text: str) -> None:
    old, new = _actions(golden_submit(), {"size", "prompt", "negative_prompt"}), \
        _actions(cli_submit(), {"size", "prompt", "negative_prompt"})
    for dest in old:
        assert _outcome(new[dest].type, text) == _outcome(old[dest].type, text), dest
    assert _outcome(old["prompt"].type, "a fox\n  in snow\r\n") == _outcome(new["prompt"].type, "a fox\n  in snow\r\n")


def _outcome(parse: Any, text: str) -> Any:
    try:
        return parse(text)
    except argparse.ArgumentTypeError as exc:
        return ("refused", str(exc))


def test_the_same_job_flag_records_and_refusal_names() -> None:
    today, derived = golden_submit().get_default("job_flags"), cli_submit().get_default("job_flags")
    assert {astuple(flag) for flag in derived if flag.dest not in NEW_FLAGS} == set(today)
    assert cli_submit().get_default("job_flags") == derived_submit().get_default("job_flags")
    args = argparse.Namespace(job_flags=derived)
    assert {field: name for field, name in flag_names(args).items() if field not in NEW_FLAGS} == {
        field: flag if len(fields) == 1 else f"{flag} ({field})" for _, flag, fields in today for field in fields}
    assert flag_names(args)["num_inference_steps"] == "--steps" and flag_names(args)["width"] == "--size (width)"


@pytest.mark.parametrize("argv", [
    ["a fox"],
    ["a fox", "--model", "m", "--steps", "3", "--frames", "9", "--size", "64x72", "--seed", "0", "--gpus", "2",
     "--guidance", "4.5", "--fps", "8", "--negative", "blur\nnoise", "--priority", "-5", "--retry-on-oom",
     "--webhook", "https://example.com/hook", "--no-start"],
])
def test_the_same_argv_parses_to_the_same_values(argv: list[str]) -> None:
    today, derived = golden_submit(), cli_submit()
    dests = {dest for dest, _, _ in today.get_default("job_flags")}
    old = today.parse_args(argv)
    new = derived.parse_args(argv)
    assert {dest: getattr(new, dest) for dest in dests} == {dest: getattr(old, dest) for dest in dests}


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity", "abc"])
def test_a_float_flag_refuses_what_is_not_a_finite_number(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli_submit().parse_args(["a fox", f"--guidance={value}"])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "argument --guidance: must be a" in error and repr(value) in error
    assert cli_submit().parse_args(["a fox", "--guidance", "1e1"]).guidance_scale == 10.0
