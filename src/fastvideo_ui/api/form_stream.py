"""One file out of a multipart form, as its bytes arrive: for a file too large
to spool (a LoRA of gigabytes), where asgi.form_file's `request.form()` would
copy the whole of it to a temporary file before the route saw a byte.

The form is parsed a chunk at a time with python-multipart (what Starlette's
own form parser uses) and what it finds is handed on in order: the file
part's start (with its file name), its data, its end. Other fields are read
past, and capped, since nothing here keeps them."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from .asgi import FormError

MAX_OTHER_FIELD_BYTES = 64 * 1024  # all the form's other fields together


@dataclass(frozen=True)
class FilePart:
    """The file field has begun: its file name as the client gave it ("" if none)."""
    filename: str


@dataclass(frozen=True)
class FileData:
    data: bytes


class _Parts:
    """python-multipart's callbacks, turned into a list of what was found in the chunk just written."""

    def __init__(self, field: str) -> None:
        self.field = field
        self.found: list[FilePart | FileData] = []
        self.seen_file = False
        self.in_file = False
        self.file_ended = False
        self.other_bytes = 0
        self._name = b""
        self._value = b""
        self._disposition = b""

    def callbacks(self) -> dict[str, object]:
        return {"on_part_begin": self._begin, "on_header_field": self._header_field,
                "on_header_value": self._header_value, "on_header_end": self._header_end,
                "on_headers_finished": self._headers_done, "on_part_data": self._data, "on_part_end": self._end}

    def _begin(self) -> None:
        self._disposition = b""
        self.in_file = False

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        if self._name.lower() == b"content-disposition":
            self._disposition = self._value
        self._name = self._value = b""

    def _headers_done(self) -> None:
        _, options = parse_options_header(self._disposition)
        if options.get(b"name", b"").decode("latin-1") != self.field:
            return
        if self.seen_file:
            raise FormError(400, f"the form has more than one `{self.field}` field")
        self.seen_file = self.in_file = True
        self.found.append(FilePart(options.get(b"filename", b"").decode("utf-8", "replace")))

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file:
            self.found.append(FileData(bytes(data[start:end])))
            return
        self.other_bytes += end - start
        if self.other_bytes > MAX_OTHER_FIELD_BYTES:
            raise FormError(400, f"the form's fields beside `{self.field}` are over {MAX_OTHER_FIELD_BYTES} bytes")

    def _end(self) -> None:
        self.file_ended = self.file_ended or self.in_file
        self.in_file = False


async def streamed_file(request: Request, field: str = "file") -> AsyncGenerator[FilePart | FileData, None]:
    """The form's `field`: a FilePart, then its data in order, as the body
    arrives. FormError (400) for a body that is not a multipart form; a form
    without the field yields nothing, for the caller to say so."""
    _, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if not boundary:
        raise FormError(400, "not a valid multipart form: its Content-Type names no boundary")
    parts = _Parts(field)
    parser = MultipartParser(boundary, parts.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            found, parts.found = parts.found, []
            for item in found:
                yield item
        parser.finalize()
    except FormParserError as exc:
        raise FormError(400, f"not a valid multipart form: {exc}") from None
    for item in parts.found:
        yield item
    if parts.seen_file and not parts.file_ended:
        raise FormError(400, f"the form ends inside its `{field}` field: the upload was cut short")
