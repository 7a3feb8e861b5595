"""What an uploaded PNG, JPEG or WebP says about itself, read from its bytes
before Pillow sees them. Pillow decompresses a PNG's text and copies a WebP
whole while it opens them, so what those cost has to be known first; and
whether libjpeg will buffer a JPEG whole shows only in its first scan's
header, which Pillow skips.

These walkers agree with Pillow's parsers on where each chunk or segment is,
and stop where a file stops making sense: what is wrong with it is then
Pillow's to say.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

# Chunks that carry the picture (or its frames), not metadata.
_PNG_PICTURE = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND", b"acTL", b"fcTL", b"fdAT"}
_WEBP_PICTURE = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF"}
# What libwebp's animation decoder, which Pillow uses for every WebP, holds a
# pixel: two canvases of its own and a copy handed to Pillow, besides Pillow's picture.
WEBP_BYTES_A_PIXEL = 16
_JPEG_NO_LENGTH = {0xC8, *range(0xD0, 0xDA), *range(0xF0, 0xFE)}  # as Pillow reads them: JPG, RSTn, SOI, EOI, JPGn


@dataclass(frozen=True)
class Headers:
    # Bytes of everything that is not the picture: text, EXIF, XMP, ICC
    # profiles, thumbnails, unknown chunks (their headers included).
    metadata: int = 0
    # JPEG: components in its first scan. Fewer than the frame has, and libjpeg
    # keeps every coefficient of the picture until the last scan is in.
    first_scan_components: int | None = None
    # WebP: its canvas, width and height, as its first picture chunk says.
    canvas: tuple[int, int] | None = None


def read_headers(data: bytes) -> Headers:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return Headers(metadata=_png_metadata(data))
    if data.startswith(b"\xff\xd8"):
        return _jpeg(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    return Headers()


def _png_metadata(data: bytes) -> int:
    # The whole file: Pillow reads the chunks after the picture data too.
    at, metadata = 8, 0
    while at + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, at)
        if kind not in _PNG_PICTURE:
            metadata += 12 + length
        if kind == b"IEND":
            break
        at += 12 + length
    return metadata


def _jpeg(data: bytes) -> Headers:
    # Up to the first scan, where Pillow stops, step by step as Pillow goes:
    # bytes that are not a marker are skipped (else a junk byte would hide
    # what follows), and so are markers without a length, EOI among them.
    at, metadata = 2, 0
    while True:
        at = data.find(b"\xff", at)
        if at < 0 or at + 2 > len(data):
            return Headers(metadata=metadata)
        marker = data[at + 1]
        if marker == 0xFF:  # a fill byte: the next one starts the marker
            at += 1
            continue
        if marker == 0x00 or marker in _JPEG_NO_LENGTH:
            at += 2
            continue
        if marker < 0xC0 or at + 4 > len(data):  # no marker Pillow knows: it refuses the file
            return Headers(metadata=metadata)
        length = struct.unpack_from(">H", data, at + 2)[0]
        if marker == 0xDA:
            components = data[at + 4] if at + 4 < len(data) else None
            return Headers(metadata=metadata, first_scan_components=components)
        if 0xE0 <= marker <= 0xEF or marker == 0xFE:  # APPn and COM: Pillow keeps each
            metadata += 2 + length
        at += 2 + length


def _webp(data: bytes) -> Headers:
    at, metadata, canvas = 12, 0, None
    while at + 8 <= len(data):
        kind = data[at:at + 4]
        length = struct.unpack_from("<I", data, at + 4)[0]
        payload = at + 8
        if kind not in _WEBP_PICTURE:
            metadata += 8 + length
        elif canvas is None:
            canvas = _webp_size(kind, data[payload:payload + 10])
        at = payload + length + (length & 1)  # chunks are padded to an even length
    return Headers(metadata=metadata, canvas=canvas)


def _webp_size(kind: bytes, head: bytes) -> tuple[int, int] | None:
    """The size a VP8X (the canvas), VP8L or VP8 chunk's first bytes give."""
    if kind == b"VP8X" and len(head) >= 10:
        return 1 + int.from_bytes(head[4:7], "little"), 1 + int.from_bytes(head[7:10], "little")
    if kind == b"VP8L" and len(head) >= 5 and head[0] == 0x2F:
        bits = int.from_bytes(head[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8 " and len(head) >= 10 and head[3:6] == b"\x9d\x01\x2a":
        return int.from_bytes(head[6:8], "little") & 0x3FFF, int.from_bytes(head[8:10], "little") & 0x3FFF
    return None


def jpeg_coefficient_bytes(size: tuple[int, int], sampling: list[tuple[int, int]]) -> int:
    """What libjpeg allocates to keep every DCT coefficient of a JPEG of this
    size whose components have these (horizontal, vertical) sampling factors:
    2 bytes a coefficient, 64 a block, each component's blocks rounded up to
    whole MCUs. A full-size component costs 2 bytes a pixel, so a 4:2:0 colour
    picture 3, a 4:4:4 one 6 and a CMYK one 8, whatever scale it is decoded at."""
    if not sampling:
        return 0
    most_h = max(h for h, _ in sampling)
    most_v = max(v for _, v in sampling)
    mcus_across = math.ceil(size[0] / (8 * most_h))
    mcus_down = math.ceil(size[1] / (8 * most_v))
    return sum(mcus_across * h * mcus_down * v for h, v in sampling) * 64 * 2


def webp_decode_bytes(file_bytes: int, size: tuple[int, int]) -> int:
    """What decoding a WebP takes, its file included: the file is held twice
    while the picture is decoded (the upload, the decoder's copy), and three
    times while it is opened (Pillow's read of it too), before the canvases are."""
    return 2 * file_bytes + max(file_bytes, WEBP_BYTES_A_PIXEL * size[0] * size[1])
