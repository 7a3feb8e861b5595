"""JSON bodies written as they are read, so a response's size never sets the
server's memory. The original API answers `GET /api/jobs` and `/logs` with
everything when no `limit` is given; a client that relies on that still gets
everything, a page of rows (or a chunk of lines) at a time."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

# Jobs read and written at a time. A chunk is what a client that stops reading
# holds here until --write-timeout: at most 100 prompts of 10,000 characters
# (and their negative prompts), 8 MB in 4-byte UTF-8.
JOB_CHUNK = 100
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
