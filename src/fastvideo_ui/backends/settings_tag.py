"""A video's generation settings, kept inside its MP4 (the container's comment
tag, as JSON), so a file that travels alone still says how it was made.

Reading them back walks the MP4's boxes in pure Python, one at a time, seeking
past the media data: an uploaded file of any size is read in a few small
pieces, no decoder ever sees it, and a file of countless tiny boxes is refused
after MAX_BOXES of them.
"""

from __future__ import annotations

import itertools
import json
import struct
from collections.abc import Iterator
from typing import IO, Any

from .base import GenerationRequest

MARK = "fastvideo_ui"  # the JSON's one top-level key
SETTING_FIELDS = ("prompt", "negative_prompt", "seed", "num_inference_steps", "width", "height", "num_frames",
                  "fps", "guidance_scale")
MAX_COMMENT_BYTES = 1 << 20
# Boxes walked in one file, at every level together (--max-mp4-boxes). An MP4
# this tool made has a few dozen; a 1 GiB file of 8-byte boxes has 134 million.
MAX_BOXES = 10_000
# moov/udta/meta/ilst/©cmt/data: where FFmpeg's MP4 muxer puts the comment tag.
_PATH = (b"moov", b"udta", b"meta", b"ilst", b"\xa9cmt", b"data")


class NotAnMp4(ValueError):
    pass


class TooManyBoxes(ValueError):
    """An MP4 (or a file made to look like one) with more boxes than a search
    should walk: refused rather than read box by box to its end."""


def settings_json(request: GenerationRequest, model_id: str, version: str) -> dict[str, Any]:
    return {"model_id": model_id, **{name: getattr(request, name) for name in SETTING_FIELDS},
            "job_id": request.job_id, "version": version}


def encode(settings: dict[str, Any]) -> str:
    return json.dumps({MARK: settings}, ensure_ascii=False, separators=(",", ":"))


def decode(comment: str) -> dict[str, Any] | None:
    """The settings in a comment tag, or None when it holds none of ours."""
    try:
        value = json.loads(comment)
    except ValueError:
        return None
    settings = value.get(MARK) if isinstance(value, dict) else None
    return settings if isinstance(settings, dict) else None


def _boxes(stream: IO[bytes], start: int, end: int, walked: Iterator[int],
           max_boxes: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of each box between start and end, one
    at a time: the search stops at the box it wants, and holds one box whatever
    the file's count. `walked` counts boxes across every level of one search."""
    at = start
    while at + 8 <= end:
        if next(walked) >= max_boxes:
            raise TooManyBoxes(f"the MP4 has more than {max_boxes} boxes before its settings tag (one this tool "
                               f"made has a few dozen)")
        stream.seek(at)
        header = stream.read(8)
        if len(header) < 8:
            break
        size, kind = struct.unpack(">I4s", header)
        payload = at + 8
        if size == 1:  # a 64-bit size follows
            large = stream.read(8)
            if len(large) < 8:
                break
            size = struct.unpack(">Q", large)[0]
            payload += 8
        elif size == 0:  # to the end of the enclosing box
            size = end - at
        if size < payload - at or at + size > end:
            raise NotAnMp4(f"a {kind!r} box at byte {at} runs past its end")
        yield kind, payload, at + size
        at += size


def read_comment(stream: IO[bytes], size: int, max_boxes: int = MAX_BOXES) -> str | None:
    """The MP4's comment tag, or None when it has none. NotAnMp4 when the file
    is not an MP4 (or ISO media) file at all; TooManyBoxes when more than
    `max_boxes` boxes come before the tag (or in its place)."""
    stream.seek(0)
    head = stream.read(12)
    if len(head) < 12 or head[4:8] not in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
        raise NotAnMp4("not an MP4 file (no ftyp box at its start)")
    start, end = 0, size
    walked = itertools.count()
    for depth, wanted in enumerate(_PATH):
        match = next(((payload, box_end) for kind, payload, box_end in _boxes(stream, start, end, walked, max_boxes)
                      if kind == wanted), None)
        if match is None:
            return None
        start, end = match
        if wanted == b"meta":
            start += 4  # a full box: version and flags come first
        elif wanted == b"data" and depth == len(_PATH) - 1:
            start += 8  # the value's type and locale
    if end - start > MAX_COMMENT_BYTES:
        return None
    stream.seek(start)
    return stream.read(end - start).decode("utf-8", errors="replace")
