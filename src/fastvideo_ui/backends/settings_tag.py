"""A video's generation settings, kept inside its MP4 (the container's comment
tag, as JSON), so a file that travels alone still says how it was made.

Reading them back walks the MP4's boxes in pure Python, one at a time, seeking
past the media data: an uploaded file of any size is read in a few small
pieces, no decoder ever sees it, and a file of countless tiny boxes is refused
after MAX_BOXES of them. Every length read is checked against the box it lies
in first: a box too short for its own header fields is refused, never read
past (a 15-byte `data` box once asked for read(-1), the whole rest of the file).
"""

from __future__ import annotations

import itertools
import json
import math
import struct
from collections.abc import Iterator
from typing import IO, Any, Final

from ..spec.fields import FIELDS, JobParams
from ..spec.rules import settings_of

MARK = "fastvideo_ui"  # the JSON's one top-level key
# The keys settings_json writes, in its order (api/media.py documents them).
KEYS: Final = (*(f.name for f in FIELDS if f.restored), "job_id", "version")
MAX_COMMENT_BYTES = 1 << 20
# Boxes walked in one file, at every level together (--max-mp4-boxes). An MP4
# this tool made has a few dozen; a 1 GiB file of 8-byte boxes has 134 million.
MAX_BOXES = 10_000
# moov/udta/meta/ilst/©cmt/data: where FFmpeg's MP4 muxer puts the comment tag.
_PATH = (b"moov", b"udta", b"meta", b"ilst", b"\xa9cmt", b"data")


class NotAnMp4(ValueError):
    """Not an MP4 (or ISO media) file at all."""


class BrokenMp4(NotAnMp4):
    """An MP4 whose boxes do not add up: one runs past the box it lies in, or
    is too short for its own header fields."""


class TooManyBoxes(ValueError):
    """An MP4 (or a file made to look like one) with more boxes than a search
    should walk: refused rather than read box by box to its end."""


def settings_json(params: JobParams, job_id: str, version: str) -> dict[str, Any]:
    """What the MP4 keeps: the spec's restorable fields (settings_of), and which job and version made it."""
    return {**settings_of(params), "job_id": job_id, "version": version}


def encode(settings: dict[str, Any]) -> str:
    return json.dumps({MARK: settings}, ensure_ascii=False, separators=(",", ":"))


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a setting")


def _plain(value: object) -> bool:
    """A value JSON carries back as it came: a string of real characters (no
    lone surrogate), a finite number, a boolean or null."""
    if isinstance(value, str):
        return value.isascii() or _encodes(value)
    if isinstance(value, float):
        return math.isfinite(value)  # 1e999 parses as infinity
    return value is None or isinstance(value, (bool, int))


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


MAX_RECORDS = 16  # a list field's items in one setting (the spec allows at most 4 LoRAs)


def _setting(value: object) -> bool:
    """A plain value, or a list field's value: a short list of flat objects of plain values."""
    if isinstance(value, list):
        return len(value) <= MAX_RECORDS and all(
            isinstance(item, dict) and all(_plain(key) and _plain(inner) for key, inner in item.items())
            for item in value)
    return _plain(value)


def decode(comment: str) -> dict[str, Any] | None:
    """The settings in a comment tag, or None when it holds none of ours. Ours
    are one object of plain values and lists of flat records (what
    settings_json writes): anything else (deeper nesting, NaN, a lone
    surrogate) is no settings of ours, and would otherwise break the answer
    that sends them back."""
    try:
        value = json.loads(comment, parse_constant=_no_constant)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        return None
    settings = value.get(MARK) if isinstance(value, dict) else None
    if not isinstance(settings, dict) or not all(_plain(key) and _setting(item) for key, item in settings.items()):
        return None
    return settings


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
            raise BrokenMp4(f"a {kind!r} box at byte {at} runs past its end")
        yield kind, payload, at + size
        at += size


# Header fields inside a box's payload, before what it holds: a full box's
# version and flags, and a data box's value type and locale.
_FIELDS = {b"meta": (4, "version and flags"), b"data": (8, "value type and locale")}


def read_comment(stream: IO[bytes], size: int, max_boxes: int = MAX_BOXES) -> str | None:
    """The MP4's comment tag, or None when it has none. NotAnMp4 when the file
    is not an MP4 (or ISO media) file at all, BrokenMp4 when its boxes on the
    way to the tag do not add up; TooManyBoxes when more than `max_boxes`
    boxes come before the tag (or in its place)."""
    stream.seek(0)
    head = stream.read(12)
    if len(head) < 12 or head[4:8] not in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
        raise NotAnMp4("not an MP4 file (no ftyp box at its start)")
    start, end = 0, size
    walked = itertools.count()
    for wanted in _PATH:
        match = next(((payload, box_end) for kind, payload, box_end in _boxes(stream, start, end, walked, max_boxes)
                      if kind == wanted), None)
        if match is None:
            return None
        start, end = match
        skip, fields = _FIELDS.get(wanted, (0, ""))
        if end - start < skip:
            raise BrokenMp4(f"the {wanted.decode('latin-1')!r} box that ends at byte {end} is too short for its "
                            f"{fields} ({end - start} of {skip} bytes)")
        start += skip
    if end - start > MAX_COMMENT_BYTES:
        return None
    stream.seek(start)
    return stream.read(end - start).decode("utf-8", errors="replace")
