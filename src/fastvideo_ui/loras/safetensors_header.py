"""Checking that a file is a well-formed safetensors file, as its bytes arrive.

The format: 8 bytes, the header's length N as a little-endian u64; N bytes of
JSON (an object: tensor name -> {dtype, shape, data_offsets}, plus an optional
`__metadata__` of strings); then the data section, where each tensor's
data_offsets [begin, end) lie end to end from 0, and the last end is the
section's length. The safetensors library refuses a file that breaks any of
this when it is loaded; here it is refused while it is uploaded, before it is
kept, so the library never holds a file a job would fail on.

Only this format is taken: a pickle (.pt, .ckpt, .bin, and PyTorch's zip of
one) runs code when it is loaded, so it is refused on sight (415). The header
is capped (MAX_HEADER_BYTES) and refused from its 8-byte length alone, before a
byte of it is buffered: it is the one part of the file held in memory."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

# A LoRA's header is tens of KB (one entry per tensor, ~100 bytes each), a few
# hundred with kohya's training metadata. The safetensors library allows 100 MB;
# parsed, JSON takes ten times its size in Python objects (a 16 MiB header of empty
# tensors took 184 MB and 2 s of CPU), so well below that.
MAX_HEADER_BYTES = 4 * 1024 * 1024
MAX_TENSORS = 65_536  # a Wan 14B LoRA has about 2,400
# A tensor's shape: what a weight has (a LoRA's are 2-D; a convolution's 5-D at most), and sizes a file can
# hold. Past these, a product of giant numbers would cost the header check quadratic CPU.
MAX_DIMS = 8
MAX_DIM = 1 << 48
LENGTH_BYTES = 8
# Bits per element, per safetensors dtype (the sub-byte float formats included).
DTYPE_BITS = {"BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16, "U16": 16,
              "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "I64": 64, "U64": 64, "F64": 64,
              "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6}
# How a pickle starts: protocol 2 to 5 (PyTorch's legacy format and plain pickles),
# or a zip's local file header (torch.save since PyTorch 1.6 writes a zip of pickles).
PICKLE_STARTS = tuple(bytes([0x80, protocol]) for protocol in range(2, 6))
ZIP_START = b"PK\x03\x04"
PICKLE_WHY = ("only safetensors files are accepted: a pickle (.pt, .pth, .ckpt, .bin) runs code when it is "
              "loaded; convert it to .safetensors first")
_NAME_SHOWN = 80  # characters of a tensor's name quoted in an error


class NotSafetensors(Exception):
    """Why the bytes are not a safetensors file: 415 (a pickle), or 422 (broken or lying)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Header:
    length: int  # N: the JSON's bytes
    tensors: int
    data_bytes: int  # the data section's length: the last tensor's end
    metadata: dict[str, str]

    @property
    def file_bytes(self) -> int:
        return LENGTH_BYTES + self.length + self.data_bytes


def _shown(name: str) -> str:
    return repr(name if len(name) <= _NAME_SHOWN else name[:_NAME_SHOWN] + "...")


def _broken(message: str) -> NotSafetensors:
    return NotSafetensors(422, f"not a valid safetensors file: {message}")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _broken(f"the header names {_shown(key)} twice")
        found[key] = value
    return found


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _tensor_span(name: str, info: Any) -> tuple[int, int]:
    """The tensor's [begin, end) in the data section, checked against its dtype and shape."""
    if not isinstance(info, dict):
        raise _broken(f"tensor {_shown(name)} is not an object with dtype, shape and data_offsets")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        raise _broken(f"tensor {_shown(name)} has an unknown dtype {str(dtype)[:20]!r}")
    if not isinstance(shape, list) or not all(_whole(size) for size in shape):
        raise _broken(f"tensor {_shown(name)}'s shape is not a list of whole numbers")
    if len(shape) > MAX_DIMS or any(size > MAX_DIM for size in shape):
        raise _broken(f"tensor {_shown(name)}'s shape has more than {MAX_DIMS} dimensions or one over {MAX_DIM}: "
                      f"no weight is that")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_whole(at) and at <= 1 << 64 for at in offsets):
        raise _broken(f"tensor {_shown(name)}'s data_offsets are not [begin, end] within a file")
    begin, end = offsets
    if end < begin:
        raise _broken(f"tensor {_shown(name)} ends ({end}) before it begins ({begin})")
    bits = math.prod(shape) * DTYPE_BITS[dtype]
    if bits % 8 or end - begin != bits // 8:
        size = f"{bits // 8}" + (f" and {bits % 8} bits" if bits % 8 else "")
        raise _broken(f"the header lies about tensor {_shown(name)}'s size: {dtype} {shape} takes "
                      f"{size} bytes, its data_offsets span {end - begin}")
    return begin, end


def check_header(text: bytes, length: int) -> Header:
    """The parsed header, or NotSafetensors saying what is wrong with it."""
    try:
        parsed = json.loads(text.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except NotSafetensors:
        raise
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise _broken(f"its header is not JSON ({str(exc)[:120]})") from None
    if not isinstance(parsed, dict):
        raise _broken("its header is not a JSON object")
    metadata = parsed.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(value, str) for value in metadata.values()):
        raise _broken("its __metadata__ is not an object of strings")
    if len(parsed) > MAX_TENSORS:
        raise _broken(f"its header lists {len(parsed)} tensors, over the {MAX_TENSORS} a LoRA could need")
    spans = sorted((*_tensor_span(name, info), name) for name, info in parsed.items())
    if not spans:
        raise _broken("it holds no tensors")
    position = 0
    for begin, end, name in spans:
        if begin < position:
            raise _broken(f"tensor {_shown(name)} overlaps the one before it (it begins at byte {begin} of the "
                          f"data, before {position})")
        if begin > position:
            raise _broken(f"{begin - position} bytes before tensor {_shown(name)} belong to no tensor "
                          f"(safetensors lays tensors end to end)")
        position = end
    return Header(length, len(spans), position, metadata)


class HeaderCheck:
    """Fed a file's bytes in order, refuses them (NotSafetensors) as soon as
    they cannot be a safetensors file; `finish` checks that the file ended
    where its header said. Only the header is buffered, never the data."""

    def __init__(self, max_header_bytes: int = MAX_HEADER_BYTES) -> None:
        self.max_header_bytes = max_header_bytes
        self.received = 0
        self.header: Header | None = None
        self._head = bytearray()  # the 8 length bytes, then the header, until it is parsed
        self._length: int | None = None

    @property
    def head_missing(self) -> int:
        """Bytes still wanted before the header can be parsed (0 once it is)."""
        if self.header is not None:
            return 0
        return LENGTH_BYTES + (self._length or 0) - len(self._head)

    def feed(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.header is None:
            self._take_head(chunk)
        self._check_end()

    def skip(self, count: int) -> None:
        """`count` more bytes of data, counted without being read (a file already on disk)."""
        self.received += count
        self._check_end()

    def _check_end(self) -> None:
        if self.header is not None and self.received > self.header.file_bytes:
            raise _broken(f"{self.received - self.header.file_bytes} bytes follow the last tensor's data")

    def _take_head(self, chunk: bytes) -> None:
        used = 0
        if self._length is None:
            used = LENGTH_BYTES - len(self._head)
            self._head += chunk[:used]
            if len(self._head) < LENGTH_BYTES:
                return
            self._length = self._read_length(bytes(self._head))
        self._head += chunk[used:used + LENGTH_BYTES + self._length - len(self._head)]
        if len(self._head) == LENGTH_BYTES + self._length:
            text = bytes(self._head[LENGTH_BYTES:])
            self._head = bytearray()  # freed before it is parsed: the text is all that is kept
            self.header = check_header(text, self._length)

    def _read_length(self, first: bytes) -> int:
        if first.startswith(PICKLE_STARTS) or first.startswith(ZIP_START):
            raise NotSafetensors(415, f"this is a pickle, not safetensors: {PICKLE_WHY}")
        length = int.from_bytes(first, "little")
        if length > self.max_header_bytes:
            raise _broken(f"its header says it is {length} bytes; at most {self.max_header_bytes} are taken "
                          f"(a LoRA's is a few hundred KB)")
        if length < 2:
            raise _broken(f"its header says it is {length} bytes: too short for any JSON object")
        return length

    def finish(self) -> Header:
        if self.header is None:
            raise _broken(f"it is truncated: it ends after {self.received} bytes, inside its header, which needs "
                          f"{self.received + self.head_missing}")
        if self.received < self.header.file_bytes:
            raise _broken(f"it is truncated: its header says the file is {self.header.file_bytes} bytes, "
                          f"it ended after {self.received}")
        return self.header


def read_header(file: Any, size: int, max_header_bytes: int = MAX_HEADER_BYTES) -> Header:
    """The header of a file already on disk (`file` open at its start, `size` its
    length), checked as an upload is; the data itself is not read."""
    check = HeaderCheck(max_header_bytes)
    while check.head_missing:
        chunk = file.read(check.head_missing)
        if not chunk:
            break
        check.feed(chunk)
    check.skip(size - check.received)
    return check.finish()


# Where LoRA trainers record the model they trained on, most specific first:
# an explicit id (diffusers, PEFT), the Stability modelspec's architecture, then
# kohya's sd-scripts (its version tag, then the checkpoint's file name).
BASE_MODEL_KEYS = ("base_model", "base_model_name_or_path", "modelspec.architecture", "ss_base_model_version",
                   "ss_sd_model_name")
_BASE_MODEL_CHARS = 200


def base_model(metadata: dict[str, str]) -> str | None:
    """The base model the metadata names, or None where it names none."""
    for key in BASE_MODEL_KEYS:
        value = metadata.get(key, "").strip()
        if value:
            return value[:_BASE_MODEL_CHARS]
    return None
