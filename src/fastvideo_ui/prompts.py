"""What a prompt may hold: one line of text.

FastVideo echoes the prompt into the worker's output, where the server reads a
job's progress (backends/fastvideo_output.py). A carriage return or a line
break in a prompt starts a record of its own there: a tqdm-like bar after a
"\\r" read as the job's steps, a stage line after a "\\n" (FastVideo's logger
repeats its log head on every line of a message) read as its phase. So a
prompt holds no control character (Unicode's category Cc: "\\r", "\\n", the
\\x1c-\\x1e separators, U+0085, ESC and the rest) and no line or paragraph
separator (U+2028, U+2029). A tab is only a wide space, and is allowed.
"""

from __future__ import annotations

import re

# Category Cc is exactly U+0000-U+001F and U+007F-U+009F.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
# What editors and terminals end a line with, and the space around it.
_LINE_BREAK = re.compile(r"\s*[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]\s*")
_NAMES = {"\n": "a line break", "\r": "a carriage return", "\x1b": "an escape", "\x00": "a NUL",
          "\u2028": "a line separator", "\u2029": "a paragraph separator"}


def prompt_problem(text: str) -> str | None:
    """Why `text` cannot be a prompt (the rule, and where it is first broken), or None."""
    found = _FORBIDDEN.search(text)
    if found is None:
        return None
    char = found.group()
    what = _NAMES.get(char, "a control character")
    return (f"must be one line of text without control characters: U+{ord(char):04X} ({what}) at character "
            f"{found.start() + 1}; write a line break as a space")


def one_line(text: str) -> str:
    """A pasted multi-line prompt as one line: each line break (and the space around it) becomes one space."""
    return _LINE_BREAK.sub(" ", text).strip()
