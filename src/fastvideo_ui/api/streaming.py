"""JSON bodies written as they are read, so a response's size never sets the
server's memory. The original API answers `GET /api/jobs` and `/logs` with
everything when no `limit` is given; a client that relies on that still gets
everything, a page of rows (or a chunk of lines) at a time."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

# A listing reads and writes its jobs in chunks of at most this many characters
# of prompts, negative prompts and errors (1 MB in 4-byte UTF-8), and at most
# JOB_CHUNK jobs: what a client that stops reading holds here until
# --write-timeout is a chunk or two, not its page (1,000 jobs with maximal
# prompts are 80 MB).
CHUNK_TEXT_CHARS = 256 * 1024
JOB_CHUNK = 1000
LOG_CHUNK = 10_000


def encode(value: Any) -> bytes:
    """Compact UTF-8 JSON. orjson writes a full job list several times faster
    than json; it refuses a lone surrogate, which only a row stored before the
    API refused them can hold, and json then writes it escaped."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return json.dumps(value, allow_nan=False, separators=(",", ":")).encode("ascii")


def json_array(pages: Iterable[list[Any]]) -> Iterator[bytes]:
    yield b"["
    first = True
    for page in pages:
        if not page:
            continue
        body = encode(page)[1:-1]  # one dumps per page, its brackets dropped
        yield body if first else b"," + body
        first = False
    yield b"]"


def json_object_with_lines(chunks: Iterable[list[str]], rest: dict[str, Any]) -> Iterator[bytes]:
    """`{"lines": [...], ...rest}`, the lines streamed."""
    yield b'{"lines":'
    yield from json_array(chunks)
    for key, value in rest.items():
        yield b"," + encode(key) + b":" + encode(value)
    yield b"}"
