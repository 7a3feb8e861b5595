"""The spec's own value checks and flag parsers (stdlib only).

`prompt_text` and `one_line_only` are the request model's validators (a
ValueError's message is the 422's); `one_line` and `parse_size` turn what is
typed after a `submit` flag into a field's value.
"""

from __future__ import annotations

import argparse

from ..prompts import one_line, prompt_problem

__all__ = ["one_line", "one_line_only", "parse_size", "prompt_text"]


def one_line_only(value: str) -> str:
    """A prompt, or ValueError: FastVideo echoes it where progress is read (prompts.py)."""
    problem = prompt_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def prompt_text(value: str) -> str:
    """The prompt without the space around it: some text, on one line."""
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    return one_line_only(value)


def parse_size(text: str) -> dict[str, int]:
    """`--size 832x480`: the width and height it sets."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be WIDTHxHEIGHT, such as 832x480, not {text!r}") from None
    return {"width": width, "height": height}
