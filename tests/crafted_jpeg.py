"""JPEGs written by hand, of any size in a few milliseconds: every coefficient
is zero (a flat grey picture), so each block is one or two bits. They make
the layouts that cost libjpeg memory whatever the draft scale (progressive,
or a sequential file whose components come in scans of their own) at sizes
Pillow would take seconds, and half a gigabyte, to encode."""

from __future__ import annotations

import math
import struct

# The Huffman table with a single symbol, 0, coded as the one bit '0': a DC
# difference of 0, and (as an AC table) end-of-block.
_ONE_CODE = bytes([1] + [0] * 15) + b"\x00"


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", marker, len(payload) + 2) + payload


def _scan(components: list[int], blocks: int, bits_per_block: int, spectral: bytes) -> bytes:
    bits = blocks * bits_per_block
    data = b"\x00" * (bits // 8) + (bytes([0xFF >> (bits % 8)]) if bits % 8 else b"")  # padded with 1s
    header = bytes([len(components)]) + b"".join(bytes([index, 0x00]) for index in components) + spectral
    return _segment(0xFFDA, header) + data


def jpeg(width: int, height: int, sampling: tuple[tuple[int, int], ...] = ((1, 1), (1, 1), (1, 1)),
         progressive: bool = False, interleaved: bool = True) -> bytes:
    """A JPEG of `width` x `height` whose components have these (horizontal,
    vertical) sampling factors (1 component: grey, 3: YCbCr, 4: CMYK).
    Progressive: one DC scan of every component (the AC coefficients never
    come, which leaves them 0). Sequential: one interleaved scan, or, with
    interleaved=False, a scan per component."""
    most_h, most_v = max(h for h, _ in sampling), max(v for _, v in sampling)
    frame = struct.pack(">BHHB", 8, height, width, len(sampling)) + b"".join(
        bytes([index + 1, h * 16 + v, 0]) for index, (h, v) in enumerate(sampling))
    parts = [b"\xff\xd8", _segment(0xFFDB, b"\x00" + b"\x01" * 64),
             _segment(0xFFC2 if progressive else 0xFFC0, frame),
             _segment(0xFFC4, b"\x00" + _ONE_CODE), _segment(0xFFC4, b"\x10" + _ONE_CODE)]
    bits = 1 if progressive else 2  # DC '0', and in a sequential scan EOB '0'
    spectral = b"\x00\x00\x00" if progressive else b"\x00\x3f\x00"
    indexes = list(range(1, len(sampling) + 1))
    if interleaved or progressive:
        mcus = math.ceil(width / (8 * most_h)) * math.ceil(height / (8 * most_v))
        parts.append(_scan(indexes, mcus * sum(h * v for h, v in sampling), bits, spectral))
    else:
        for index, (h, v) in zip(indexes, sampling, strict=True):
            blocks = math.ceil(math.ceil(width * h / most_h) / 8) * math.ceil(math.ceil(height * v / most_v) / 8)
            parts.append(_scan([index], blocks, bits, spectral))
    return b"".join(parts) + b"\xff\xd9"
